#include "relay/target_probe.hpp"

#include <array>
#include <memory>

#include <curl/curl.h>
#include <fmt/format.h>

namespace relay {
namespace {

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlTextDeleter {
  void operator()(char* text) const { curl_free(text); }
};
struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using CurlText = std::unique_ptr<char, CurlTextDeleter>;

CurlText part(CURLU* url, CURLUPart which, unsigned flags = 0) {
  char* text = nullptr;
  if (curl_url_get(url, which, &text, flags) != CURLUE_OK) return CurlText();
  return CurlText(text);
}

}  // namespace

std::string Origin::text() const {
  return fmt::format("{}://{}:{}", scheme, host, port);
}

std::optional<Origin> origin_of(std::string_view url, std::string& reason) {
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  if (!parsed) {
    reason = "out of memory";
    return std::nullopt;
  }
  const std::string text(url);
  if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0); rc != CURLUE_OK) {
    reason = std::string("not a valid URL: ") + curl_url_strerror(rc);
    return std::nullopt;
  }
  const CurlText scheme = part(parsed.get(), CURLUPART_SCHEME);
  const CurlText host = part(parsed.get(), CURLUPART_HOST);
  const CurlText port = part(parsed.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!scheme || !host || !port ||
      (std::string_view(scheme.get()) != "http" && std::string_view(scheme.get()) != "https")) {
    reason = "not an http:// or https:// URL with a host";
    return std::nullopt;
  }
  return Origin{scheme.get(), host.get(), std::stol(port.get())};
}

ProbeResult probe(const Origin& origin, std::chrono::milliseconds timeout) {
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return {.error = "cannot create a libcurl handle"};
  std::array<char, CURL_ERROR_SIZE> error{};
  const std::string url = origin.text() + "/";
  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);  // connect (and TLS), then stop: no request is sent
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(2 * timeout.count()));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error.data());
  if (CURLcode rc = curl_easy_perform(e); rc != CURLE_OK) {
    return {.error = error[0] != '\0' ? std::string(error.data()) : std::string(curl_easy_strerror(rc))};
  }
  curl_off_t micros = 0;
  curl_easy_getinfo(e, origin.scheme == "https" ? CURLINFO_APPCONNECT_TIME_T : CURLINFO_CONNECT_TIME_T,
                    &micros);
  return {.error = {}, .took = std::chrono::microseconds(micros)};
}

}  // namespace relay
