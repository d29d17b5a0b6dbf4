// libcurl, loaded on first use: the `carrierarr` binary does not link it, so commands that
// never call AWS (pki, local fleets) do not pay its start-up. Only curl/curl.h is used at build
// time, for types and constants.
#include <curl/curl.h>
#include <dlfcn.h>

#include <mutex>

#include "aws/http.h"

namespace carrierarr::aws {
namespace {

struct Curl {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
};

// Loaded once for the process; never unloaded (libcurl keeps global state).
Result<const Curl*> LoadCurl() {
  static std::once_flag once;
  static Curl curl;
  static std::string error;
  std::call_once(once, [] {
    void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      error = std::string("cannot load libcurl (") + dlerror() +
              "): install it with 'apt-get install libcurl4' (scripts/setup.sh does)";
      return;
    }
    auto load = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && error.empty()) error = std::string("libcurl lacks ") + name;
    };
    load(curl.global_init, "curl_global_init");
    load(curl.easy_init, "curl_easy_init");
    load(curl.easy_setopt, "curl_easy_setopt");
    load(curl.easy_perform, "curl_easy_perform");
    load(curl.easy_getinfo, "curl_easy_getinfo");
    load(curl.easy_cleanup, "curl_easy_cleanup");
    load(curl.easy_strerror, "curl_easy_strerror");
    load(curl.slist_append, "curl_slist_append");
    load(curl.slist_free_all, "curl_slist_free_all");
    if (error.empty()) curl.global_init(CURL_GLOBAL_DEFAULT);
  });
  if (!error.empty()) return Status::FailedPrecondition(error);
  return &curl;
}

size_t OnBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* out) {
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    static_cast<Headers*>(out)->clear();  // a 100 Continue's headers are not the answer's
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    static_cast<Headers*>(out)->emplace_back(std::string(line.substr(0, colon)),
                                             std::string(value));
  }
  return size * n;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const Curl* curl) : c_(curl) {}
  Result<HttpResponse> Send(const HttpRequest& request) override {
    CURL* h = c_->easy_init();
    if (h == nullptr) return Status::Internal("curl_easy_init failed");
    HttpResponse response;
    curl_slist* headers = nullptr;
    for (const auto& [k, v] : request.headers)
      headers = c_->slist_append(headers, (k + ": " + v).c_str());
    headers = c_->slist_append(headers, "Expect:");  // no 100-continue round trip
    c_->easy_setopt(h, CURLOPT_URL, request.url.c_str());
    c_->easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "POST" || request.method == "PUT") {
      c_->easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      c_->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    c_->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    c_->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c_->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    c_->easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    c_->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                    static_cast<long>(request.connect_timeout.count()));
    c_->easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    c_->easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
    c_->easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    c_->easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
    CURLcode rc = c_->easy_perform(h);
    long status = 0;
    c_->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    c_->slist_free_all(headers);
    c_->easy_cleanup(h);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Status::DeadlineExceeded(request.url + ": " + c_->easy_strerror(rc));
    if (rc != CURLE_OK) return Status::Unavailable(request.url + ": " + c_->easy_strerror(rc));
    response.status = static_cast<int>(status);
    return response;
  }

 private:
  const Curl* c_;
};

}  // namespace

Result<std::unique_ptr<HttpTransport>> MakeCurlTransport() {
  auto curl = LoadCurl();
  if (!curl.ok()) return curl.status();
  return std::unique_ptr<HttpTransport>(std::make_unique<CurlTransport>(*curl));
}

}  // namespace carrierarr::aws
