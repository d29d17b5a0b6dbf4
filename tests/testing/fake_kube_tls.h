// The TLS material of FakeKube, made in process: an EC P-256 CA, a server certificate for
// 127.0.0.1 and a client certificate. Test-only (the validity window reads the real clock).
#ifndef CARRIERARR_TESTS_TESTING_FAKE_KUBE_TLS_H_
#define CARRIERARR_TESTS_TESTING_FAKE_KUBE_TLS_H_

#include <string>

namespace carrierarr::testing {

struct KubeTls {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;  // CN admin, O system:masters
  std::string client_key_pem;
};

// Throws std::runtime_error when OpenSSL fails (it does not, short of memory).
KubeTls MakeKubeTls();

std::string Base64(const std::string& data);

}  // namespace carrierarr::testing

#endif  // CARRIERARR_TESTS_TESTING_FAKE_KUBE_TLS_H_
