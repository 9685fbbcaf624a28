#include "core/host_tensor.h"

#include <thread>

#include "test_util.h"

namespace torchrec::test {
namespace {

// On a thread of its own: a new thread has no spare block yet, whatever other tests left on theirs.
template <typename Body>
void on_new_thread(Body&& body) {
  std::thread thread(std::forward<Body>(body));
  thread.join();
}

TEST(HostTensor, AFreedSmallBlockServesTheThreadsNextTensorThatFits) {
  on_new_thread([] {
    void* first = nullptr;
    {
      at::Tensor a = empty_host({32, 64}, at::kFloat);  // 8 KiB
      first = a.data_ptr();
      a.fill_(1.0f);
    }
    at::Tensor smaller = empty_host({16, 64}, at::kFloat);
    EXPECT_EQ(smaller.data_ptr(), first);  // the spare block, reused
    EXPECT_EQ(smaller.numel(), 16 * 64);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(smaller.data_ptr()) % 16, 0u);
    at::Tensor while_held = empty_host({32, 64}, at::kFloat);  // the spare is taken: fresh memory
    EXPECT_NE(while_held.data_ptr(), smaller.data_ptr());
    smaller.fill_(2.0f);
    while_held.fill_(3.0f);
    EXPECT_EQ(smaller.sum().item<float>(), 2.0f * 16 * 64);
    EXPECT_EQ(while_held.sum().item<float>(), 3.0f * 32 * 64);
  });
}

TEST(HostTensor, ABiggerTensorThanTheSpareGetsItsOwnBlock) {
  { at::Tensor a = empty_host({4}, at::kFloat); }
  at::Tensor big = empty_host({1000, 8}, at::kFloat);  // 32 KiB: more than the 16-byte spare
  big.fill_(1.5f);
  EXPECT_EQ(big.sum().item<float>(), 1.5f * 8000);
  at::Tensor huge = empty_host({300, 100}, at::kFloat);  // over 64 KiB: libtorch's allocator
  EXPECT_EQ(huge.numel(), 30000);
  at::Tensor none = empty_host({0, 7}, at::kFloat);
  EXPECT_EQ(none.numel(), 0);
}

TEST(HostTensor, TensorsOutliveTheThreadThatMadeThemAndCanBeResized) {
  at::Tensor made_elsewhere;
  std::thread maker([&] {
    made_elsewhere = empty_host({8, 8}, at::kFloat);
    made_elsewhere.fill_(4.0f);
    at::Tensor dropped = empty_host({8, 8}, at::kFloat);  // becomes that thread's spare, freed at its exit
  });
  maker.join();
  EXPECT_EQ(made_elsewhere.sum().item<float>(), 4.0f * 64);
  made_elsewhere.resize_({100, 100});  // storage grows through libtorch's allocator, the old block released
  made_elsewhere.fill_(1.0f);
  EXPECT_EQ(made_elsewhere.sum().item<float>(), 10000.0f);
  made_elsewhere = at::Tensor();  // freed here, on another thread than the one that made it
  at::Tensor next = empty_host({8, 8}, at::kFloat);
  next.fill_(5.0f);
  EXPECT_EQ(next.sum().item<float>(), 5.0f * 64);
}

}  // namespace
}  // namespace torchrec::test
