#pragma once

// Private to http/: owners for what libcurl's URL API hands out.

#include <memory>

#include <curl/curl.h>

namespace http::detail {

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

// One part of a parsed URL, or null when the URL has none (`rc`, if given, says why).
inline CurlString url_part(CURLU* url, CURLUPart part, CURLUcode* rc = nullptr) {
  char* text = nullptr;
  const CURLUcode code = curl_url_get(url, part, &text, 0);
  if (rc != nullptr) *rc = code;
  return CurlString(code == CURLUE_OK ? text : nullptr);
}

}  // namespace http::detail
