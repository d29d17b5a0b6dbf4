// The HTTP seam of the AWS client: carrierarr::net's (src/net/http.h), named here as the AWS code
// always has. Tests use a scripted transport or the fake AWS server on loopback.
#ifndef CARRIERARR_AWS_HTTP_H_
#define CARRIERARR_AWS_HTTP_H_

#include "net/http.h"

namespace carrierarr::aws {

using net::FindHeader;
using net::Headers;
using net::HttpRequest;
using net::HttpResponse;
using net::HttpTransport;
using net::MakeCurlTransport;
using net::MakeCurlTransportFromLibrary;

}  // namespace carrierarr::aws

#endif  // CARRIERARR_AWS_HTTP_H_
