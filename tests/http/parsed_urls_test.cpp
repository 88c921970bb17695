#include "http/parsed_urls.hpp"

#include <string>

#include <catch2/catch.hpp>

using http::detail::ParsedUrls;

namespace {

std::string part(const http::detail::SharedUrl& url, CURLUPart which) {
  char* text = nullptr;
  if (curl_url_get(url.get(), which, &text, 0) != CURLUE_OK) return "<none>";
  std::string out(text);
  curl_free(text);
  return out;
}

}  // namespace

TEST_CASE("parsed urls: a URL is parsed once and its parts are libcurl's", "[parsed_urls]") {
  ParsedUrls urls;
  const auto first = urls.find_or_parse("http://127.0.0.1:8080/hooks/in?a=1");
  REQUIRE(first);
  CHECK(urls.find_or_parse("http://127.0.0.1:8080/hooks/in?a=1") == first);
  CHECK(urls.size() == 1);
  CHECK(part(first, CURLUPART_HOST) == "127.0.0.1");
  CHECK(part(first, CURLUPART_PORT) == "8080");
  CHECK(part(first, CURLUPART_PATH) == "/hooks/in");
  CHECK(part(first, CURLUPART_QUERY) == "a=1");
  const auto other = urls.find_or_parse("http://127.0.0.1:8080/hooks/other");
  REQUIRE(other);
  CHECK(other != first);
  CHECK(part(other, CURLUPART_PATH) == "/hooks/other");
}

TEST_CASE("parsed urls: what libcurl cannot parse is left to libcurl, and not kept", "[parsed_urls]") {
  ParsedUrls urls;
  CHECK_FALSE(urls.find_or_parse("http://exa mple.com/"));
  CHECK_FALSE(urls.find_or_parse(""));
  CHECK(urls.size() == 0);
}

TEST_CASE("parsed urls: past its capacity the cache starts over, and handles given out stay valid",
          "[parsed_urls]") {
  ParsedUrls urls;
  const auto kept = urls.find_or_parse("http://127.0.0.1/0");
  for (std::size_t n = 1; n < ParsedUrls::kCapacity; ++n)
    REQUIRE(urls.find_or_parse("http://127.0.0.1/" + std::to_string(n)));
  CHECK(urls.size() == ParsedUrls::kCapacity);
  REQUIRE(urls.find_or_parse("http://127.0.0.1/one-more"));
  CHECK(urls.size() == 1);
  CHECK(part(kept, CURLUPART_PATH) == "/0");  // still usable by the transfer that holds it
  CHECK(urls.find_or_parse("http://127.0.0.1/0") != kept);
}
