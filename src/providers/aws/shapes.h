// The shapes of the values that reach AWS requests, resource names or a node's first-boot files:
// one definition for fleet.yaml's checks (fleet_rules.cc) and the userdata's (userdata.cc), so
// that what the parser accepts the userdata accepts too. Pure functions: thread-safe.
#ifndef CARRIERARR_PROVIDERS_AWS_SHAPES_H_
#define CARRIERARR_PROVIDERS_AWS_SHAPES_H_

#include <cstddef>
#include <functional>
#include <string_view>

namespace carrierarr::aws_provider {

bool IsLowerAlnum(char c);
bool IsAlnum(char c);
bool IsDigit(char c);
bool AllOf(std::string_view s, const std::function<bool(char)>& ok);
bool OneOf(char c, std::string_view set);

// `len` hex digits, either case.
bool IsHex(std::string_view s, size_t len);
// A DNS host name (labels of letters, digits and '-', not starting or ending with '-'), or an
// IPv4 address, which has the same shape.
bool IsHostName(std::string_view s);
// host:port, the host as IsHostName, the port 1-65535.
bool IsHostPort(std::string_view s);
// 1.9.5: digits separated by single dots.
bool IsVersion(std::string_view s);

// Splits "http(s)://HOST[:PORT]REST" into its authority and REST ("" or from the first '/');
// false for other schemes and for an authority that is not HOST or HOST:PORT.
bool SplitHttpUrl(std::string_view s, std::string_view* authority, std::string_view* rest);
// A URL's path and query in a shell-inert alphabet: letters, digits and "-._~/%+=&?:@,"; no
// quotes, spaces, '$', '`', '\', ';', '|', '(' or newlines.
bool IsSafeUrlRest(std::string_view rest);
// https://HOST[:PORT]/path?query with IsSafeUrlRest: what a node may download its programs
// from (never plain http, which anyone on the path can replace).
bool IsHttpsUrl(std::string_view s);
// A base URL for release downloads: https://HOST[:PORT][/path], no query, no trailing '/'.
bool IsMirrorUrl(std::string_view s);
// A k3s release tag: v1.31.4+k3s1.
bool IsK3sVersion(std::string_view s);

}  // namespace carrierarr::aws_provider

#endif  // CARRIERARR_PROVIDERS_AWS_SHAPES_H_
