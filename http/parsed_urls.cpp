#include "http/parsed_urls.hpp"

namespace http::detail {

SharedUrl ParsedUrls::find_or_parse(const std::string& url) {
  if (auto found = urls_.find(url); found != urls_.end()) return found->second;
  SharedUrl parsed(curl_url(), UrlDeleter{});
  if (!parsed) return nullptr;
  // The flags libcurl itself uses for a CURLOPT_URL string, so that both ways accept the same URLs.
  if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
      CURLUE_OK)
    return nullptr;
  if (urls_.size() >= kCapacity) urls_.clear();
  urls_.emplace(url, parsed);
  return parsed;
}

}  // namespace http::detail
