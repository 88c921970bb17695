#include "http/plain_target.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <curl/curl.h>

namespace http::detail {
namespace {

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct TextDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using Text = std::unique_ptr<char, TextDeleter>;

Text url_part(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, 0) != CURLUE_OK) return nullptr;
  return Text(text);
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

std::shared_ptr<const PlainTarget> parse_plain_target(const std::string& url) {
  if (!starts_with_ignoring_case(url, "http://")) return nullptr;
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  if (url_part(parsed.get(), CURLUPART_USER) || url_part(parsed.get(), CURLUPART_PASSWORD) ||
      url_part(parsed.get(), CURLUPART_OPTIONS) || url_part(parsed.get(), CURLUPART_ZONEID))
    return nullptr;
  Text host = url_part(parsed.get(), CURLUPART_HOST);
  Text path = url_part(parsed.get(), CURLUPART_PATH);
  if (!host || !path || *host == '\0') return nullptr;
  auto target = std::make_shared<PlainTarget>();
  target->host_header = host.get();
  std::string_view name = host.get();
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  target->host = std::string(name);
  if (Text port = url_part(parsed.get(), CURLUPART_PORT)) {
    const std::string_view digits = port.get();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535)
      return nullptr;
    target->port = static_cast<std::uint16_t>(value);
  }
  if (target->port != 80) target->host_header += ":" + std::to_string(target->port);
  target->origin = target->host + ":" + std::to_string(target->port);
  target->path = *path.get() == '\0' ? "/" : path.get();
  if (Text query = url_part(parsed.get(), CURLUPART_QUERY)) target->path.append("?").append(query.get());
  return target;
}

std::shared_ptr<const PlainTarget> PlainTargets::find_or_parse(const std::string& url) {
  if (auto found = targets_.find(url); found != targets_.end()) return found->second;
  if (targets_.size() >= kCapacity) targets_.clear();
  auto target = parse_plain_target(url);
  targets_.emplace(url, target);
  return target;
}

bool headers_need_libcurl(const std::string* lines, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    if (starts_with_ignoring_case(lines[i], "transfer-encoding")) return true;
  return false;
}

}  // namespace http::detail
