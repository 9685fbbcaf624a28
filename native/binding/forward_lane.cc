#include "binding/forward_lane.h"

#include <utility>
#include <vector>

#include "binding/forward_inline.h"
#include "binding/small_call_lane.h"
#include "core/error.h"

namespace torchrec::binding {
namespace {

class ForwardCall : public LaneCall {
 public:
  ForwardCall(std::shared_ptr<EmbeddingModule> module, CallSequencer::Ticket ticket, std::shared_ptr<KjtInputs> inputs,
              Napi::Float32Array out, float* data)
      : module_(std::move(module)),
        ticket_(std::move(ticket)),
        inputs_(std::move(inputs)),
        out_(Napi::Persistent(out)),
        data_(data),
        length_(static_cast<int64_t>(out.ElementLength())) {}

  Napi::Value result(Napi::Env) override {
    if (data_ != nullptr) return out_.Value();
    return copy_into_out(out_.Value(), own_.data(), static_cast<size_t>(length_));
  }

 protected:
  void run() override {
    const KeyedJaggedTensor kjt = build_kjt(*inputs_);
    const int64_t width = module_->plan().output_width();
    if (kjt.stride() * width != length_) {
      fail(ErrorCode::Internal, "forward: the batch size was taken as ", length_ / width,
           " before the KJT was built, which has ", kjt.stride());
    }
    if (data_ == nullptr) own_.resize(static_cast<size_t>(length_));
    module_->forward(kjt, data_ != nullptr ? data_ : own_.data());
  }
  void finish() noexcept override { ticket_.release(); }

 private:
  // Holds the module (its tables and sequencer) even if dispose() runs meanwhile; declared before
  // the ticket, so a call dropped unrun releases its ticket first.
  std::shared_ptr<EmbeddingModule> module_;
  CallSequencer::Ticket ticket_;
  std::shared_ptr<KjtInputs> inputs_;        // copied off the JS heap: JS may change its arrays meanwhile
  Napi::Reference<Napi::Float32Array> out_;  // released on the JS thread, when the call is destroyed
  float* data_;                              // null: out_ is the caller's, filled from own_ by result()
  std::vector<float> own_;
  int64_t length_;
};

}  // namespace

std::optional<Napi::Promise> try_forward_on_lane(Napi::Env env, const std::shared_ptr<EmbeddingModule>& module,
                                                 CallSequencer::Kind kind, const std::shared_ptr<KjtInputs>& inputs,
                                                 Napi::Float32Array out, float* data) {
  if (kind != CallSequencer::Kind::Read || !is_small_forward(*module, *inputs)) return std::nullopt;
  if (!small_call_lane_ready(env)) return std::nullopt;
  std::optional<CallSequencer::Ticket> turn = module->sequencer().try_enter(kind);
  if (!turn) return std::nullopt;
  return submit_to_lane(env, std::make_unique<ForwardCall>(module, std::move(*turn), inputs, out, data));
}

}  // namespace torchrec::binding
