#pragma once

// Private to http::Client: target URLs parsed once, handed to libcurl ready-made.

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

#include <curl/curl.h>

#include "http/curl_url.hpp"

namespace http::detail {

using SharedUrl = std::shared_ptr<CURLU>;

// libcurl parses a CURLOPT_URL string again for every request (about a twentieth of the client's work per
// request, measured with callgrind). A relay sends to a handful of targets, so each is parsed once here
// and given to libcurl as CURLOPT_CURLU, which libcurl only reads. A transfer holds its handle until it is
// recycled, so dropping the cache never pulls a handle from under a request in flight.
class ParsedUrls {
 public:
  // The parsed form of `url`, or null when libcurl cannot parse it: the caller then passes the string, so
  // that libcurl reports the error exactly as it would have.
  SharedUrl find_or_parse(const std::string& url);
  std::size_t size() const { return urls_.size(); }

  // More distinct targets than this (rows that each name their own URL) empty the cache and start over.
  static constexpr std::size_t kCapacity = 256;

 private:
  std::unordered_map<std::string, SharedUrl> urls_;
};

}  // namespace http::detail
