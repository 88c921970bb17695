#include "http/plain_target.hpp"

#include <charconv>

#include <curl/curl.h>

#include "http/curl_url.hpp"
#include "http/text.hpp"

namespace http::detail {
std::shared_ptr<const PlainTarget> parse_plain_target(const std::string& url) {
  if (!starts_with_ignoring_case(url, "http://")) return nullptr;
  UrlPtr parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  if (url_part(parsed.get(), CURLUPART_USER) || url_part(parsed.get(), CURLUPART_PASSWORD) ||
      url_part(parsed.get(), CURLUPART_OPTIONS) || url_part(parsed.get(), CURLUPART_ZONEID))
    return nullptr;
  CurlString host = url_part(parsed.get(), CURLUPART_HOST);
  CurlString path = url_part(parsed.get(), CURLUPART_PATH);
  if (!host || !path || *host == '\0') return nullptr;
  auto target = std::make_shared<PlainTarget>();
  target->host_header = host.get();
  std::string_view name = host.get();
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  target->host = std::string(name);
  if (CurlString port = url_part(parsed.get(), CURLUPART_PORT)) {
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
  if (CurlString query = url_part(parsed.get(), CURLUPART_QUERY))
    target->path.append("?").append(query.get());
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
