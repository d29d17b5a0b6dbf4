// libcurl, loaded on first use: the `carrierarr` binary does not link it, so commands that
// never talk HTTP (pki, local fleets) do not pay its start-up. Only curl/curl.h is used at build
// time, for types and constants.
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "net/http.h"

namespace carrierarr::net {
namespace {

// The libcurl entry points we call, resolved with dlsym.
struct CurlApi {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_reset) easy_reset = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

// dlopen()s `library` and resolves every entry point. The handle is never closed: libcurl keeps
// global state (its global init, OpenSSL's) for the life of the process.
Result<CurlApi> LoadCurlApi(const std::string& library) {
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Status::FailedPrecondition(
        "cannot load " + library + " (" + (why != nullptr ? why : "unknown error") +
        "): carrierarr talks to AWS and Kubernetes through libcurl; install it "
        "with 'apt-get install libcurl4' (scripts/setup.sh does)");
  }
  CurlApi api;
  std::string missing;
  auto resolve = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
    if (function == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  resolve(api.global_init, "curl_global_init");
  resolve(api.easy_init, "curl_easy_init");
  resolve(api.easy_setopt, "curl_easy_setopt");
  resolve(api.easy_perform, "curl_easy_perform");
  resolve(api.easy_getinfo, "curl_easy_getinfo");
  resolve(api.easy_reset, "curl_easy_reset");
  resolve(api.easy_cleanup, "curl_easy_cleanup");
  resolve(api.easy_strerror, "curl_easy_strerror");
  resolve(api.slist_append, "curl_slist_append");
  resolve(api.slist_free_all, "curl_slist_free_all");
  if (!missing.empty()) {
    return Status::FailedPrecondition(library + " lacks " + missing +
                                      ": install a current libcurl4 (apt-get install libcurl4)");
  }
  // curl_global_init is not thread-safe: this runs once, under LoadProcessCurl's once_flag (or
  // in a test that loads its own copy before any transfer).
  if (CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
    return Status::Internal(std::string("curl_global_init failed: ") + api.easy_strerror(rc));
  return api;
}

// The process's libcurl.so.4, loaded once (thread-safe through the function-local static).
const Result<CurlApi>& LoadProcessCurl() {
  static const Result<CurlApi> api = LoadCurlApi("libcurl.so.4");
  return api;
}

// Where the body goes: the response, or a streaming request's callback once the status is 2xx.
struct BodySink {
  const CurlApi* api;
  CURL* handle;
  const HttpRequest* request;
  std::string* body;
  bool stopped = false;  // the callback asked to end the transfer
};

size_t OnBody(char* data, size_t size, size_t count, void* out) {
  auto* sink = static_cast<BodySink*>(out);
  const size_t n = size * count;
  if (sink->request->on_chunk) {
    long status = 0;  // NOLINT(google-runtime-int): curl writes a long
    sink->api->easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (sink->request->on_chunk(std::string_view(data, n))) return n;
      sink->stopped = true;
      return 0;  // makes curl end the transfer with CURLE_WRITE_ERROR
    }
  }
  sink->body->append(data, n);
  return n;
}

// In-memory PEM for libcurl: copied by curl (CURL_BLOB_COPY), so nothing has to outlive setopt.
curl_blob Blob(const std::string& pem) {
  return curl_blob{.data = const_cast<char*>(pem.data()),  // NOLINT: curl's API is not const
                   .len = pem.size(),
                   .flags = CURL_BLOB_COPY};
}

// One header line at a time. A status line starts a new header block: the headers of an
// interim answer (100 Continue) are not those of the final one.
size_t OnHeader(char* data, size_t size, size_t count, void* out) {
  auto* headers = static_cast<Headers*>(out);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    headers->clear();
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    headers->emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return size * count;
}

// Frees a header list however Send returns.
class HeaderList {
 public:
  explicit HeaderList(const CurlApi* api) : api_(api) {}
  ~HeaderList() {
    if (list_ != nullptr) api_->slist_free_all(list_);
  }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  bool Append(const std::string& line) {
    curl_slist* grown = api_->slist_append(list_, line.c_str());
    if (grown == nullptr) return false;
    list_ = grown;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  const CurlApi* api_;
  curl_slist* list_ = nullptr;
};

// Thread-safe: each Send uses its own easy handle, taken from a small pool of idle ones so that
// consecutive calls reuse their TLS connections (a fresh handshake per AWS call would double
// `up`'s round trips).
class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const CurlApi& api) : api_(api) {}
  ~CurlTransport() override {
    for (CURL* handle : idle_) api_.easy_cleanup(handle);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> Send(const HttpRequest& request) override {
    CURL* handle = Take();
    if (handle == nullptr) return Status::Internal("curl_easy_init failed (out of memory?)");
    Result<HttpResponse> result = Perform(handle, request);
    Return(handle);
    return result;
  }

 private:
  static constexpr size_t kMaxIdle = 8;

  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        return handle;
      }
    }
    return api_.easy_init();
  }

  void Return(CURL* handle) {
    api_.easy_reset(handle);  // forgets options, keeps live connections
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(handle);
      return;
    }
    api_.easy_cleanup(handle);
  }

  Result<HttpResponse> Perform(CURL* handle, const HttpRequest& request) const {
    HttpResponse response;
    HeaderList headers(&api_);
    for (const auto& [name, value] : request.headers) {
      // "Name:" alone would tell curl to drop the header; "Name;" sends it empty.
      if (!headers.Append(value.empty() ? name + ";" : name + ": " + value))
        return Status::Internal("curl_slist_append failed (out of memory?)");
    }
    // No "Expect: 100-continue" round trip before a large body.
    if (!headers.Append("Expect:")) return Status::Internal("curl_slist_append failed");

    char error[CURL_ERROR_SIZE] = {};
    auto set = [&](CURLoption option, auto value) { api_.easy_setopt(handle, option, value); };
    set(CURLOPT_URL, request.url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);        // no SIGALRM for timeouts: we run in threads
    set(CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is an answer, never followed
    set(CURLOPT_ERRORBUFFER, error);
    // NOLINTBEGIN(google-runtime-int): curl takes long
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
    // NOLINTEND(google-runtime-int)
    if (request.method == "GET") {
      set(CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else {
      // POST semantics (a body with its length) under whatever method is asked for: PUT for the
      // IMDSv2 token, DELETE, POST.
      set(CURLOPT_POST, 1L);
      set(CURLOPT_POSTFIELDS, request.body.data());
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      if (request.method != "POST") set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    set(CURLOPT_HTTPHEADER, headers.get());
    SetTls(handle, request.tls);
    BodySink sink{.api = &api_, .handle = handle, .request = &request, .body = &response.body};
    set(CURLOPT_WRITEFUNCTION, &OnBody);
    set(CURLOPT_WRITEDATA, &sink);
    set(CURLOPT_HEADERFUNCTION, &OnHeader);
    set(CURLOPT_HEADERDATA, &response.headers);

    const CURLcode rc = api_.easy_perform(handle);
    long status = 0;  // NOLINT(google-runtime-int): curl writes a long
    api_.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    // A stream ends well when its reader stopped it or its time ran out after a 2xx answer.
    const bool streaming = request.on_chunk && status >= 200 && status < 300;
    if (streaming && rc == CURLE_WRITE_ERROR && sink.stopped) return response;
    if (streaming && rc == CURLE_OPERATION_TIMEDOUT) {
      response.timed_out = true;
      return response;
    }
    if (rc != CURLE_OK) {
      const std::string what = request.method + " " + request.url + ": " +
                               (error[0] != '\0' ? error : api_.easy_strerror(rc));
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
          return Status::DeadlineExceeded(what + " (no answer in time)");
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          // The URL itself is wrong: no retry can help. (An endpoint_url typo lands here.)
          return Status::InvalidArgument(what + "; check the endpoint URL");
        default:
          return Status::Unavailable(what);
      }
    }
    return response;
  }

  void SetTls(CURL* handle, const TlsOptions& tls) const {
    auto set = [&](CURLoption option, auto value) { api_.easy_setopt(handle, option, value); };
    if (!tls.ca_pem.empty()) {
      curl_blob ca = Blob(tls.ca_pem);
      set(CURLOPT_CAINFO_BLOB, &ca);
    }
    if (!tls.client_cert_pem.empty()) {
      curl_blob cert = Blob(tls.client_cert_pem);
      set(CURLOPT_SSLCERT_BLOB, &cert);
      set(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!tls.client_key_pem.empty()) {
      curl_blob key = Blob(tls.client_key_pem);
      set(CURLOPT_SSLKEY_BLOB, &key);
      set(CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (tls.insecure_skip_verify) {
      set(CURLOPT_SSL_VERIFYPEER, 0L);
      set(CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }

  const CurlApi api_;  // function pointers into a library that is never unloaded
  std::mutex mu_;
  std::vector<CURL*> idle_;  // guarded by mu_; owned (cleaned up in the destructor)
};

}  // namespace

Result<std::unique_ptr<HttpTransport>> MakeCurlTransport() {
  const Result<CurlApi>& api = LoadProcessCurl();
  if (!api.ok()) return api.status();
  return std::unique_ptr<HttpTransport>(std::make_unique<CurlTransport>(*api));
}

Result<std::unique_ptr<HttpTransport>> MakeCurlTransportFromLibrary(const std::string& library) {
  if (library == "libcurl.so.4") return MakeCurlTransport();  // never initialise it twice
  Result<CurlApi> api = LoadCurlApi(library);
  if (!api.ok()) return api.status();
  return std::unique_ptr<HttpTransport>(std::make_unique<CurlTransport>(*api));
}

}  // namespace carrierarr::net
