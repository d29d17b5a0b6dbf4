// FdCloser: owns a file descriptor and closes it on scope exit, unless Release() takes it back.
// Not copyable; one owner per descriptor. Not thread-safe (like the descriptor it holds).
#ifndef CARRIERARR_CORE_FD_CLOSER_H_
#define CARRIERARR_CORE_FD_CLOSER_H_

#include <unistd.h>

namespace carrierarr {

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

  // Gives up ownership: the caller closes the descriptor (and sees close's error).
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_FD_CLOSER_H_
