// FakeKube's transport: HTTPS on 127.0.0.1 (Boost.Beast over Asio's OpenSSL stream), one
// thread per connection with blocking I/O (a test double: a few clients at a time). The client
// certificate is asked for, not required (a bearer token is the other way in), and verified
// against our CA when given. The API itself is in fake_kube_api.cc.
#include "testing/fake_kube.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <list>
#include <mutex>
#include <set>
#include <thread>

#include "core/file_util.h"
#include "testing/fake_kube_api.h"
#include "testing/fake_kube_tls.h"
#include "testing/fake_kube_util.h"
#include "testing/form_decode.h"

namespace carrierarr::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using kube_fake::Request;
using kube_fake::Response;

namespace {

constexpr size_t kMaxBody = 4 << 20;
constexpr size_t kMaxConnections = 128;

void ParseTarget(const std::string& target, Request* r) {
  size_t q = target.find('?');
  r->path = FormDecode(target.substr(0, q));
  if (q == std::string::npos) return;
  std::string query = target.substr(q + 1);
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string pair =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    size_t eq = pair.find('=');
    if (!pair.empty()) {
      r->query[FormDecode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : FormDecode(pair.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
}

// The user and groups of a verified client certificate: CN and O, as the API server reads them.
void CertificateIdentity(SSL* ssl, Request* r) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                      static_cast<size_t>(ASN1_STRING_length(data)));
    if (nid == NID_commonName) r->user = value;
    if (nid == NID_organizationName) r->groups.push_back(value);
  }
}

}  // namespace

class FakeKube::Impl {
 public:
  Impl() : tls_(MakeKubeTls()), ctx_(ssl::context::tls_server), acceptor_(ioc_) {
    // A client that leaves mid-answer (kubectl interrupted during a watch) must not kill the
    // process with SIGPIPE: OpenSSL writes to the socket with write(2). Process-wide, which a
    // test double may do.
    signal(SIGPIPE, SIG_IGN);
    ctx_.use_certificate_chain(net::buffer(tls_.server_cert_pem));
    ctx_.use_private_key(net::buffer(tls_.server_key_pem), ssl::context::pem);
    ctx_.add_certificate_authority(net::buffer(tls_.ca_cert_pem));
    // Ask for a client certificate, verify it when given, do not require it.
    SSL_CTX_set_verify(ctx_.native_handle(), SSL_VERIFY_PEER, nullptr);
    // A client that reconnects resumes its TLS session (libcurl does, after a watch it stopped
    // closed its connection); with peer verification on, OpenSSL refuses any resumption with an
    // internal_error alert unless the context has a session id context.
    static const unsigned char kSessionContext[] = "carrierarr-fake-kube";
    SSL_CTX_set_session_id_context(ctx_.native_handle(), kSessionContext,
                                   sizeof(kSessionContext) - 1);
    BIO* bio = BIO_new_mem_buf(tls_.ca_cert_pem.data(), static_cast<int>(tls_.ca_cert_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    SSL_CTX_add_client_CA(ctx_.native_handle(), ca);
    X509_free(ca);
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    api_.set_server_address("127.0.0.1:" + std::to_string(port_));
    api_.set_ca_pem(tls_.ca_cert_pem);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    api_.Shutdown();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (Worker& w : workers_) w.thread.join();
    workers_.clear();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

  void Record(const Request& r) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(r.method + " " + r.target);
  }

  std::vector<std::string> Requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  kube_fake::Api api_;
  KubeTls tls_;
  int port_ = 0;

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void AcceptLoop() {
    while (!stopped_) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stopped_) break;
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (*it->done) {
          it->thread.join();
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
      if (workers_.size() >= kMaxConnections) continue;  // closes it
      auto done = std::make_shared<std::atomic<bool>>(false);
      int fd = socket.native_handle();
      {
        std::lock_guard<std::mutex> lock(mu_);
        open_fds_.insert(fd);
      }
      workers_.push_back(Worker{std::thread([this, s = std::move(socket), done, fd]() mutable {
                                  Serve(std::move(s));
                                  {
                                    std::lock_guard<std::mutex> lock(mu_);
                                    open_fds_.erase(fd);
                                  }
                                  *done = true;
                                }),
                                done});
    }
  }

  void Serve(tcp::socket socket) {
    boost::beast::ssl_stream<tcp::socket> stream(std::move(socket), ctx_);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    boost::beast::flat_buffer buffer;
    while (!stopped_) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBody);
      http::read(stream, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        Write(stream,
              kube_fake::StatusReply(413, "RequestEntityTooLarge", "the request body is too large"),
              false);
        break;
      }
      if (ec) break;
      const auto& req = parser.get();
      Request r;
      r.method = std::string{req.method_string()};
      r.target = std::string{req.target()};
      ParseTarget(r.target, &r);
      r.content_type = std::string{req[http::field::content_type]};
      r.accept = std::string{req[http::field::accept]};
      r.user_agent = std::string{req[http::field::user_agent]};
      r.body = req.body();
      Record(r);
      std::string auth{req[http::field::authorization]};
      if (auth == std::string("Bearer ") + FakeKube::kToken) {
        r.user = "token-user";
        r.groups = {"system:authenticated"};
      } else if (auth.empty()) {
        CertificateIdentity(stream.native_handle(), &r);
      }
      bool keep_alive = req.keep_alive();
      if (!Answer(stream, r, keep_alive)) break;
      if (!keep_alive) break;
    }
    stream.shutdown(ec);
  }

  // Writes the answer to `r`; false when the connection is to close.
  bool Answer(boost::beast::ssl_stream<tcp::socket>& stream, const Request& r, bool keep_alive) {
    if (r.user.empty()) {
      return Write(stream, kube_fake::StatusReply(401, "Unauthorized", "Unauthorized"), keep_alive);
    }
    Response response = api_.Handle(r);
    if (!response.watch) return Write(stream, response, keep_alive);
    http::response<http::empty_body> head{http::status::ok, 11};
    head.set(http::field::content_type, "application/json");
    head.set(http::field::cache_control, "no-cache, private");
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer{head};
    boost::system::error_code ec;
    http::write_header(stream, serializer, ec);
    if (ec) return false;
    api_.Watch(r, [&](const std::string& line) {
      net::write(stream, http::make_chunk(net::buffer(line)), ec);
      return !ec;
    });
    if (ec) return false;
    net::write(stream, http::make_chunk_last(), ec);
    return !ec;
  }

  bool Write(boost::beast::ssl_stream<tcp::socket>& stream, const Response& response,
             bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(response.code), 11};
    res.set(http::field::content_type, response.content_type);
    res.set(http::field::cache_control, "no-cache, private");
    res.body() = response.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(stream, res, ec);
    return !ec;
  }

  net::io_context ioc_;
  ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopped_{false};
  std::list<Worker> workers_;  // touched by the accept thread, then by Stop after joining it
  mutable std::mutex mu_;
  std::set<int> open_fds_;
  std::vector<std::string> requests_;
};

FakeKube::FakeKube() : impl_(std::make_unique<Impl>()) {}
FakeKube::~FakeKube() = default;

std::string FakeKube::url() const { return "https://127.0.0.1:" + std::to_string(impl_->port_); }
int FakeKube::port() const { return impl_->port_; }
const std::string& FakeKube::ca_pem() const { return impl_->tls_.ca_cert_pem; }

void FakeKube::WriteKubeconfig(const std::string& path) const {
  const KubeTls& tls = impl_->tls_;
  std::string config =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: fake\n"
      "  cluster:\n"
      "    server: " +
      url() +
      "\n"
      "    certificate-authority-data: " +
      Base64(tls.ca_cert_pem) +
      "\n"
      "users:\n"
      "- name: admin\n"
      "  user:\n"
      "    client-certificate-data: " +
      Base64(tls.client_cert_pem) +
      "\n"
      "    client-key-data: " +
      Base64(tls.client_key_pem) +
      "\n"
      "- name: token-user\n"
      "  user:\n"
      "    token: " +
      std::string(kToken) +
      "\n"
      "contexts:\n"
      "- name: fake\n"
      "  context:\n"
      "    cluster: fake\n"
      "    user: admin\n"
      "- name: fake-token\n"
      "  context:\n"
      "    cluster: fake\n"
      "    user: token-user\n"
      "current-context: fake\n";
  Status written = WriteFileAtomic(path, config, 0600);
  if (!written.ok()) throw std::runtime_error("FakeKube: " + written.ToString());
}

void FakeKube::AddNode(const std::string& name, const std::map<std::string, std::string>& labels,
                       const std::string& internal_ip) {
  impl_->api_.AddNode(name, labels, internal_ip);
}
void FakeKube::AddNamespace(const std::string& name) { impl_->api_.AddNamespace(name); }
void FakeKube::AddCustomKind(const std::string& group, const std::string& version,
                             const std::string& kind, const std::string& plural, bool namespaced) {
  impl_->api_.AddCustomKind(group, version, kind, plural, namespaced);
}
void FakeKube::Deny(const std::string& user, const std::string& verb, const std::string& resource,
                    const std::string& ns) {
  impl_->api_.Deny({user, verb, resource, ns});
}
void FakeKube::Store(const nlohmann::json& object) { impl_->api_.Store(object); }
void FakeKube::set_rollouts_ready(bool ready) { impl_->api_.SetRolloutsReady(ready); }
void FakeKube::CompleteRollouts() { impl_->api_.CompleteRollouts(); }
void FakeKube::HoldNamespaceTermination(bool hold) { impl_->api_.HoldNamespaceTermination(hold); }
void FakeKube::ServePodProxy(const std::string& ns, const std::string& pod, int port,
                             const std::string& path, const std::string& body) {
  impl_->api_.ServePodProxy(ns + "/" + pod + ":" + std::to_string(port) + path, body);
}
std::vector<nlohmann::json> FakeKube::Objects() const { return impl_->api_.Objects(); }
nlohmann::json FakeKube::Object(const std::string& api_version, const std::string& kind,
                                const std::string& ns, const std::string& name) const {
  return impl_->api_.Object(api_version, kind, ns, name);
}
std::vector<std::string> FakeKube::Requests() const { return impl_->Requests(); }
int FakeKube::CountRequests(const std::string& method) const {
  int n = 0;
  for (const std::string& r : impl_->Requests()) n += r.rfind(method + " ", 0) == 0 ? 1 : 0;
  return n;
}
void FakeKube::Stop() { impl_->Stop(); }

}  // namespace carrierarr::testing
