#include "http/url.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include <curl/curl.h>

#include "http/curl_url.hpp"

namespace http {
namespace {

using detail::CurlString;
using detail::UrlPtr;

bool has_space_or_control(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::string check_http_url(std::string_view url) {
  if (url.empty()) return "the URL is empty";
  // libcurl would reject most of these too, but with a less telling reason.
  if (has_space_or_control(url)) return "the URL contains spaces or control characters";
  UrlPtr parsed(curl_url());
  if (!parsed) return "out of memory parsing the URL";
  const std::string text(url);
  if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK)
    return std::string("not a valid absolute URL: ") + curl_url_strerror(rc);
  CURLUcode rc = CURLUE_OK;
  const CurlString scheme = detail::url_part(parsed.get(), CURLUPART_SCHEME, &rc);
  if (!scheme) return std::string("the URL has no scheme: ") + curl_url_strerror(rc);
  const std::string_view scheme_text(scheme.get());
  if (scheme_text != "http" && scheme_text != "https")
    return "the scheme must be http or https, not " + std::string(scheme_text);
  const CurlString host = detail::url_part(parsed.get(), CURLUPART_HOST, &rc);
  if (!host || *host == '\0') return "the URL has no host";
  return "";
}

std::string redact_url(std::string_view url) {
  // Done by hand rather than with CURLU so that even a URL libcurl refuses is redacted before it is logged.
  const std::size_t scheme_end = url.find("://");
  const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t authority_end = std::min(url.find_first_of("/?#", authority), url.size());
  const std::size_t at = url.substr(authority, authority_end - authority).rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string redacted(url.substr(0, authority));
  redacted.append(url.substr(authority + at + 1));
  return redacted;
}

}  // namespace http
