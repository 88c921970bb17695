#pragma once

// Private to http::Client: one request's easy handle and buffers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "http/parsed_urls.hpp"
#include "http/request.hpp"

namespace http::detail {

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

// The two kinds of pooled handle. A handle's receive buffer size is set once, when it is made: libcurl 7.88
// refuses CURLOPT_BUFFERSIZE on a handle that kept its buffer from an earlier transfer (one whose host name
// did not resolve, for one). So the client keeps a pool of handles per kind, and a request only ever takes a
// handle of its own kind.
//   plain        HTTP/1.1 (http:// URLs, or HTTP/2 turned off): libcurl's smallest receive buffer, 1 KiB.
//   multiplexed  https:// with HTTP/2 on, which ALPN may bring: libcurl's default buffer (16 KiB), since
//                libcurl 7.88 copies each HTTP/2 stream's data into its handle's buffer and pauses the
//                whole connection, with every stream sharing it, while a stream's data does not fit.
enum class TransferKind { plain, multiplexed };
inline constexpr std::size_t kTransferKinds = 2;
TransferKind transfer_kind(bool http2, std::string_view url);

struct TransferSettings {
  TransferKind kind = TransferKind::plain;
  bool http2 = true;
  bool verify_tls = true;
  std::size_t body_excerpt_bytes = 256;
  // Whether the environment names a proxy when the client is made. Without one, libcurl is told so once
  // (an empty CURLOPT_PROXY) instead of reading the proxy variables for every request; with one, libcurl
  // applies them as always.
  bool proxy_in_environment = true;
  // The client's hooks on the sockets of the connections this handle opens: told of each new one
  // (CURLOPT_SOCKOPTFUNCTION), and closing each (CURLOPT_CLOSESOCKETFUNCTION), so that the client hears of
  // every socket before its descriptor number can be reused.
  curl_sockopt_callback socket_opened = nullptr;
  curl_closesocket_callback close_socket = nullptr;
  void* socket_hooks_data = nullptr;
};

// An easy handle with the buffers of the request it carries. Transfers are pooled and reused: the options
// that never change are set once, and each request only re-sets what differs, so the handle keeps its
// connection-independent state (and its allocations) from one request to the next.
class Transfer {
 public:
  explicit Transfer(const TransferSettings& settings);
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Loads the request into the handle; `url` is request.url parsed (null: libcurl parses the string). On
  // failure the returned code says which option was refused.
  [[nodiscard]] CURLcode prepare(Request&& request, std::uint64_t tag, SharedUrl url);
  // Fills the response from a transfer that libcurl reports done with `result`.
  void finish(CURLcode result);
  // Marks the request failed below HTTP; `detail` is appended to curl's text for `code` when non-empty.
  void fail(CURLcode code, std::string_view detail);
  void abort();
  // Drops what belonged to the last request, keeping the handle and buffer capacity for the next.
  void recycle();

  CURL* easy() const { return easy_.get(); }
  TransferKind kind() const { return settings_.kind; }
  std::uint64_t tag() const { return tag_; }
  Response& response() { return response_; }
  static Transfer* from(CURL* easy);

  // Position in the client's list of active transfers (bookkeeping owned by the client).
  std::size_t active_slot = 0;

 private:
  bool open_handle();
  [[nodiscard]] CURLcode set_fixed_options();
  [[nodiscard]] CURLcode set_headers(const std::vector<std::string>& lines);
  [[nodiscard]] CURLcode set_method(const std::string& method);
  [[nodiscard]] CURLcode set_url(const std::string& text, SharedUrl parsed);
  void on_header_line(std::string_view line);
  void on_body_bytes(std::string_view bytes);

  static std::size_t cb_header(char* data, std::size_t size, std::size_t count, void* userp);
  static std::size_t cb_write(char* data, std::size_t size, std::size_t count, void* userp);

  TransferSettings settings_;
  EasyPtr easy_;
  // CURLOPT_HTTPHEADER: a list libcurl only reads, so its nodes are ours and point into one buffer that
  // holds every line, each ending in '\0'. Both keep their capacity from one request to the next (up to a
  // few KiB): no allocation per line (curl_slist_append would make two), and one buffer, not a string each.
  std::string header_text_;
  std::vector<curl_slist> header_nodes_;
  // An empty "Expect:" stops libcurl from waiting a round trip for "100 Continue" before large bodies.
  std::string no_expect_ = "Expect:";
  SharedUrl url_;     // CURLOPT_CURLU points here while the request runs
  std::string body_;  // CURLOPT_POSTFIELDS points here: libcurl does not copy it
  std::uint64_t tag_ = 0;
  std::chrono::steady_clock::time_point started_{};
  Response response_;
  char error_detail_[CURL_ERROR_SIZE] = {};
};

}  // namespace http::detail
