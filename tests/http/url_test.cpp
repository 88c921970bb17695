#include "http/url.hpp"

#include <catch2/catch.hpp>

using http::check_http_url;
using http::redact_url;

TEST_CASE("url: absolute http and https URLs with a host pass", "[url]") {
  for (const char* url :
       {"http://example.com", "https://example.com/hook", "http://127.0.0.1:8080/a?b=c#d",
        "HTTPS://Example.COM:443/x", "http://user:secret@example.com/", "http://[::1]:9000/"}) {
    INFO(url);
    CHECK(check_http_url(url).empty());
  }
}

TEST_CASE("url: other schemes are refused", "[url]") {
  CHECK_THAT(check_http_url("ftp://example.com/file"), Catch::Contains("http or https"));
  CHECK_FALSE(check_http_url("file:///etc/passwd").empty());
  CHECK_FALSE(check_http_url("gopher://example.com/").empty());
}

TEST_CASE("url: a URL without a host is refused", "[url]") {
  CHECK_FALSE(check_http_url("http://").empty());
  CHECK_FALSE(check_http_url("http://?query").empty());
  CHECK_FALSE(check_http_url("http://user@/x").empty());
  CHECK_FALSE(check_http_url("https://:8080/").empty());
}

TEST_CASE("url: relative URLs are refused", "[url]") {
  CHECK_FALSE(check_http_url("/hook").empty());
  CHECK_FALSE(check_http_url("example.com/hook").empty());
  CHECK_FALSE(check_http_url("hook").empty());
}

TEST_CASE("url: garbage is refused with a one-line reason", "[url]") {
  for (const char* url :
       {"", "::::", "http//example.com", "http:example.com", "%%%", "http://exa mple.com/"}) {
    INFO(url);
    const std::string reason = check_http_url(url);
    CHECK_FALSE(reason.empty());
    CHECK(reason.find('\n') == std::string::npos);
  }
}

TEST_CASE("url: spaces and control characters are refused", "[url]") {
  CHECK_THAT(check_http_url("http://example.com/a b"), Catch::Contains("spaces"));
  CHECK_FALSE(check_http_url(" http://example.com/").empty());
  CHECK_FALSE(check_http_url("http://example.com/\r\nX: y").empty());
}

TEST_CASE("url: redact_url drops user and password", "[url]") {
  CHECK(redact_url("https://user:secret@example.com:8443/a?b=c") == "https://example.com:8443/a?b=c");
  CHECK(redact_url("http://token@example.com/") == "http://example.com/");
  CHECK(redact_url("http://u:p@ss@example.com/x@y") == "http://example.com/x@y");
  CHECK(redact_url("http://example.com/path@x") == "http://example.com/path@x");
  CHECK(redact_url("user:pw@host/p") == "host/p");
  CHECK(redact_url("") == "");
}
