// One read-only memory mapping per file per process, shared by every collection and worker thread
// that maps the file (worker threads share the addon's globals), released with its last user.
//
// A file is identified by (device, inode, size, mtime): the same snapshot file opened twice maps
// once; a file rewritten since (new size or mtime) maps anew. Files replaced by rename (how
// snapshots are written) or unlinked stay readable under a live mapping: the inode lives on.
//
// A file truncated in place under a live mapping would raise SIGBUS on the next read of a page past
// its new end and kill the process. We choose to catch that instead of preventing it: a SIGBUS
// handler, installed with the first mapping, checks whether the faulting address lies in one of our
// mappings; if so it replaces that whole mapping with zero pages (the faulting read resumes and
// reads zeros) and marks it damaged, and every store reading it checks the mark after its reads and
// fails the call with ERR_CHECKPOINT. Faults elsewhere go to the previous handler (or the default
// action). Alternatives we rejected: a private copy of each file (doubles the disk and page cache
// and loses sharing across processes); holding the fd and re-checking the size before each read
// (a race remains between the check and the read, and it costs a syscall per forward); MAP_PRIVATE
// or mlock (neither survives truncation: Linux unmaps truncated pages either way).
//
// Advice: none is given (no MADV_RANDOM / WILLNEED / HUGEPAGE), as none was measured to help here.
// Measured on this machine's kernel: a freshly written snapshot sits in the page cache as 2 MiB
// folios, and a lookup fault maps the whole folio (one random row: +2 MiB of RssFile, 100 rows:
// +200 MiB) — huge TLB entries for free, as DESIGN's huge-page measurement wants for big tables; those
// pages are the shared page cache, not a copy (test/serving/rss.test.ts checks that no anonymous copy
// appears and that 4 worker threads stay near 1x).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace torchrec {

class FileMapping {
 public:
  // The process's mapping of `path`, made now if there is none. ERR_CHECKPOINT naming the file when
  // it cannot be opened, is not a regular file, is empty or cannot be mapped. A symlink as the last
  // component is refused (O_NOFOLLOW), as the snapshot reader refuses links.
  static std::shared_ptr<FileMapping> open(const std::string& path);

  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True once a read hit a page past the file's end: the file shrank under the mapping. Every byte
  // of the mapping reads 0 from then on.
  bool damaged() const { return damaged_.load(std::memory_order_acquire); }
  // ERR_CHECKPOINT saying so when damaged(); `what`: the call that read it.
  void check_intact(const char* what) const;

  // How many distinct files this process has mapped now (tests check sharing with it).
  static size_t live_count();

 private:
  FileMapping(std::string path, const uint8_t* data, size_t size);
  friend void mark_damaged(FileMapping* m);

  std::string path_;
  const uint8_t* data_;
  size_t size_;
  std::atomic<bool> damaged_{false};
  int slot_ = -1;  // index in the signal handler's table, -1 when not registered
};

}  // namespace torchrec
