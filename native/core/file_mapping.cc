#include "core/file_mapping.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/error.h"

namespace torchrec {
namespace {

// The SIGBUS handler reads this table without locks (a handler may not take a mutex): a slot is
// published by storing `owner` last and retired by clearing `owner` first, before the unmap.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<FileMapping*> owner{nullptr};
};
constexpr int kSlots = 4096;
Slot g_slots[kSlots];
struct sigaction g_previous;
std::once_flag g_handler_once;

void chain_to_previous(int sig, siginfo_t* info, void* context) {
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    // Not ours and nobody else's: the default action, as if we had never installed a handler (the
    // faulting instruction runs again and the kernel now terminates the process).
    signal(sig, SIG_DFL);
  }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    FileMapping* owner = slot.owner.load(std::memory_order_acquire);
    if (owner == nullptr) continue;
    const uintptr_t begin = slot.begin.load(std::memory_order_relaxed);
    const uintptr_t end = slot.end.load(std::memory_order_relaxed);
    if (address < begin || address >= end) continue;
    // Zero pages in place of the whole file: the read resumes, and the store reports the damage.
    void* zeros =
        mmap(reinterpret_cast<void*>(begin), end - begin, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (zeros != MAP_FAILED) {
      mark_damaged(owner);
      return;
    }
    break;
  }
  chain_to_previous(sig, info, context);
}

void install_handler() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, &g_previous);
}

int take_slot(FileMapping* owner, const uint8_t* data, size_t size) {
  for (int i = 0; i < kSlots; ++i) {
    FileMapping* expected = nullptr;
    // Reserve with a sentinel-free trick: begin/end are written while owner is still null (the
    // handler skips the slot), then owner is published.
    if (g_slots[i].owner.load(std::memory_order_relaxed) != nullptr) continue;
    if (g_slots[i].begin.exchange(1, std::memory_order_acq_rel) != 0) continue;  // another thread took it
    g_slots[i].begin.store(reinterpret_cast<uintptr_t>(data), std::memory_order_relaxed);
    g_slots[i].end.store(reinterpret_cast<uintptr_t>(data) + size, std::memory_order_relaxed);
    g_slots[i].owner.compare_exchange_strong(expected, owner, std::memory_order_release);
    return i;
  }
  return -1;
}

void free_slot(int i) {
  g_slots[i].owner.store(nullptr, std::memory_order_release);
  g_slots[i].end.store(0, std::memory_order_relaxed);
  g_slots[i].begin.store(0, std::memory_order_release);
}

using Key = std::tuple<dev_t, ino_t, off_t, time_t, long>;
std::mutex g_registry_mutex;
std::map<Key, std::weak_ptr<FileMapping>>& registry() {
  static auto* map = new std::map<Key, std::weak_ptr<FileMapping>>();  // never destroyed: used at exit
  return *map;
}

[[noreturn]] void fail_errno(const std::string& path, const char* what, int error) {
  fail(ErrorCode::Checkpoint, path, ": cannot ", what, " (", std::strerror(error), ")");
}

}  // namespace

void mark_damaged(FileMapping* m) {
  m->damaged_.store(true, std::memory_order_release);
}

FileMapping::FileMapping(std::string path, const uint8_t* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

FileMapping::~FileMapping() {
  if (slot_ >= 0) free_slot(slot_);
  munmap(const_cast<uint8_t*>(data_), size_);
}

void FileMapping::check_intact(const char* what) const {
  if (!damaged()) return;
  fail(ErrorCode::Checkpoint, what, ": ", path_, " shrank while it was memory-mapped (truncated or rewritten in ",
       "place); its rows now read as zeros, so this call's result is void. Snapshots must be replaced, not ",
       "rewritten in place; restore a complete snapshot to serve again");
}

std::shared_ptr<FileMapping> FileMapping::open(const std::string& path) {
  std::call_once(g_handler_once, install_handler);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) fail_errno(path, "open it for mapping", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    fail_errno(path, "stat it", error);
  }
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
    ::close(fd);
    fail(ErrorCode::Checkpoint, path,
         ": cannot be memory-mapped: ", S_ISREG(st.st_mode) ? "it is empty" : "it is not a regular file");
  }
  const Key key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  std::shared_ptr<FileMapping> stale;  // dropped after the lock: its destructor takes the lock
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  auto& map = registry();
  auto found = map.find(key);
  if (found != map.end()) {
    stale = found->second.lock();
    if (stale && !stale->damaged()) {
      ::close(fd);
      return stale;
    }
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* data = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);  // the mapping keeps the file open
  if (data == MAP_FAILED) fail_errno(path, "memory-map it", error);
  std::shared_ptr<FileMapping> mapping(new FileMapping(path, static_cast<const uint8_t*>(data), size),
                                       [key](FileMapping* m) {
                                         {
                                           std::lock_guard<std::mutex> guard(g_registry_mutex);
                                           auto it = registry().find(key);
                                           if (it != registry().end() && it->second.expired()) registry().erase(it);
                                         }
                                         delete m;
                                       });
  mapping->slot_ = take_slot(mapping.get(), mapping->data_, size);
  if (mapping->slot_ < 0) {
    stale = std::move(mapping);  // unmapped once the lock is released
    fail(ErrorCode::Checkpoint, path, ": cannot be memory-mapped: this process already maps ", kSlots,
         " files (load it without mmap)");
  }
  map[key] = mapping;
  return mapping;
}

size_t FileMapping::live_count() {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  size_t n = 0;
  for (const auto& [key, weak] : registry()) n += weak.expired() ? 0 : 1;
  return n;
}

}  // namespace torchrec
