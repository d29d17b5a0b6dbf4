// AWS Signature Version 4 for the non-S3 services carrierarr calls (EC2, Secrets Manager,
// Service Quotas). Facts: ../shared/spec/aws-wire.md; verified against the AWS test suite in
// ../shared/testdata/aws-sigv4/. Pure functions: thread-safe.
#ifndef CARRIERARR_AWS_SIGV4_H_
#define CARRIERARR_AWS_SIGV4_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "aws/http.h"

namespace carrierarr::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;  // never logged
  std::string session_token;      // temporary credentials only
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string source;  // where they came from, for messages: "environment", "profile dev (...)"
};

// RFC 3986 percent-encoding keeping A-Za-z0-9-_.~ (uppercase hex); '/' kept when !encode_slash.
std::string UriEncode(std::string_view text, bool encode_slash = true);

// One request to sign, as it goes on the wire.
struct SigningInput {
  std::string method;  // "POST"
  std::string path;    // raw path, "/" for our services
  std::string query;   // raw query string after '?', may be empty
  Headers headers;     // must include host; x-amz-date is added by Sign when absent
  std::string body;
  std::string region;
  std::string service;  // signing name: "ec2", "secretsmanager", "servicequotas"
  std::chrono::system_clock::time_point time;
  bool normalize_path = true;  // non-S3: remove dot segments and encode twice
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lowercase hex
  std::string authorization;  // the whole Authorization header value
  std::string amz_date;       // "YYYYMMDDTHHMMSSZ"
};

// Computes the signature. Adds x-amz-security-token to the signed headers when the
// credentials carry a session token (the caller must send that header too: see Sign).
Signature ComputeSignature(const SigningInput& input, const Credentials& credentials);

// Signs `request` in place: adds host (from the URL) when absent, x-amz-date,
// x-amz-security-token for session credentials, and Authorization.
void Sign(HttpRequest& request, const Credentials& credentials, const std::string& region,
          const std::string& service, std::chrono::system_clock::time_point now);

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_SIGV4_H_
