// A raw TCP connection to 127.0.0.1 from a loopback source address of the caller's choosing
// (127.0.0.2, ...: one "client address" each), for clients an HTTP library cannot play: slow,
// idle, trickling. Header-only and free of test frameworks, so benchmarks use it too.
#ifndef CARRIERARR_TESTS_TESTING_RAW_SOCKET_H_
#define CARRIERARR_TESTS_TESTING_RAW_SOCKET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace carrierarr::testing {

// The connected descriptor (the caller closes it), or -1 when the socket could not be made,
// bound to `source` or connected to 127.0.0.1:port.
inline int ConnectFromLoopback(int port, const std::string& source) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0)
    return fd;
  if (fd >= 0) close(fd);
  return -1;
}

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_RAW_SOCKET_H_
