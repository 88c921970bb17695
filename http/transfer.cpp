#include "http/transfer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "http/request_head.hpp"
#include "http/text.hpp"

namespace http::detail {
namespace {

// How much header space a pooled transfer keeps from one request to the next, at most.
constexpr std::size_t kKeptHeaderBytes = 4096;
// The receive buffer of a plain transfer: the answer to a delivery is a status line and a few headers, and
// a relay keeps a handle per request in flight (16 KiB each by default: 3.2 MiB more resident memory with
// 1,000 in flight, measured with outbox-bench). Larger answers take more reads.
constexpr long kPlainReceiveBufferBytes = 1024;

}  // namespace

TransferKind transfer_kind(bool http2, std::string_view url) {
  return http2 && starts_with_ignoring_case(url, "https:") ? TransferKind::multiplexed : TransferKind::plain;
}

Transfer::Transfer(const TransferSettings& settings) : settings_(settings) {
  open_handle();
}

// A handle that cannot be made now (out of memory) is retried by the next prepare(); meanwhile the request
// still completes, once, with the reason.
bool Transfer::open_handle() {
  easy_.reset(curl_easy_init());
  if (!easy_) return false;
  if (CURLcode rc = set_fixed_options(); rc != CURLE_OK) {
    spdlog::warn("http: cannot configure a transfer: {}", curl_easy_strerror(rc));
    easy_.reset();
    return false;
  }
  return true;
}

CURLcode Transfer::set_fixed_options() {
  // Typed locals: curl_easy_setopt is variadic, so a callback with the wrong signature would otherwise
  // compile and misbehave at run time.
  curl_write_callback header_fn = &Transfer::cb_header;
  curl_write_callback write_fn = &Transfer::cb_write;
  CURL* e = easy_.get();
  CURLcode rc = CURLE_OK;
  const auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(e, CURLOPT_PRIVATE, this));
  set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_detail_));
  set(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_fn));
  set(curl_easy_setopt(e, CURLOPT_HEADERDATA, this));
  set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_fn));
  set(curl_easy_setopt(e, CURLOPT_WRITEDATA, this));
  // Timeouts must not use SIGALRM: the loop thread owns signal handling.
  set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  // A redirect is the receiver's answer, reported as its status; following it could resend the body.
  set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, settings_.verify_tls ? 1L : 0L));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, settings_.verify_tls ? 2L : 0L));
  // Set here, before any transfer: libcurl 7.88 refuses it while the handle holds a buffer, which a failed
  // name resolution leaves behind (see TransferKind).
  if (settings_.kind == TransferKind::plain)
    set(curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kPlainReceiveBufferBytes));
  if (settings_.socket_opened != nullptr) {
    set(curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, settings_.socket_opened));
    set(curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, settings_.socket_hooks_data));
  }
  if (settings_.close_socket != nullptr) {
    set(curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, settings_.close_socket));
    set(curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, settings_.socket_hooks_data));
  }
  if (!settings_.proxy_in_environment) {
    // With no proxy at all, the list of hosts that bypass one does not matter either; libcurl would read
    // no_proxy for every request otherwise.
    set(curl_easy_setopt(e, CURLOPT_PROXY, ""));
    set(curl_easy_setopt(e, CURLOPT_NOPROXY, ""));
  }
  if (settings_.http2) {
    set(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)));
  } else {
    set(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  }
  return rc;
}

CURLcode Transfer::prepare(Request&& request, std::uint64_t tag, SharedUrl url) {
  tag_ = tag;
  started_ = std::chrono::steady_clock::now();
  if (!easy_ && !open_handle()) return CURLE_FAILED_INIT;
  body_ = std::move(request.body);
  error_detail_[0] = '\0';
  CURL* e = easy_.get();
  if (CURLcode rc = set_headers(request.headers); rc != CURLE_OK) return rc;
  if (CURLcode rc = set_method(request.method); rc != CURLE_OK) return rc;
  if (CURLcode rc = set_url(request.url, std::move(url)); rc != CURLE_OK) return rc;
  // Waiting for a connection still being set up pays off only where TLS (ALPN) may bring HTTP/2. Over
  // plain http libcurl learns the protocol from the first response, so every other request would wait for
  // it: behind a hanging first request, all of them.
  const long pipewait = settings_.kind == TransferKind::multiplexed ? 1L : 0L;
  if (CURLcode rc = curl_easy_setopt(e, CURLOPT_PIPEWAIT, pipewait); rc != CURLE_OK) return rc;
  const long connect_ms = std::max<long>(0, static_cast<long>(request.connect_timeout.count()));
  const long total_ms = std::max<long>(0, static_cast<long>(request.total_timeout.count()));
  if (CURLcode rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms); rc != CURLE_OK) return rc;
  return curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
}

CURLcode Transfer::set_headers(const std::vector<std::string>& lines) {
  header_text_.clear();
  for (const std::string& line : lines)
    header_text_.append(line).push_back('\0');
  // Pointed into only now that the buffer has stopped growing.
  header_nodes_.resize(lines.size() + 1);
  char* line = header_text_.data();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    header_nodes_[i] = curl_slist{line, &header_nodes_[i + 1]};
    line += lines[i].size() + 1;
  }
  header_nodes_.back() = curl_slist{no_expect_.data(), nullptr};
  return curl_easy_setopt(easy_.get(), CURLOPT_HTTPHEADER, header_nodes_.data());
}

// CURLOPT_CURLU wins over CURLOPT_URL, so it is cleared whenever the string has to be used.
CURLcode Transfer::set_url(const std::string& text, SharedUrl parsed) {
  url_ = std::move(parsed);
  if (CURLcode rc = curl_easy_setopt(easy_.get(), CURLOPT_CURLU, url_.get()); rc != CURLE_OK) return rc;
  return curl_easy_setopt(easy_.get(), CURLOPT_URL, url_ ? nullptr : text.c_str());
}

// Every branch sets all the method-related options, because the handle keeps those of its last request.
CURLcode Transfer::set_method(const std::string& method) {
  CURL* e = easy_.get();
  if (method == "HEAD") {
    if (CURLcode rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, nullptr); rc != CURLE_OK) return rc;
    return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  }
  if (CURLcode rc = curl_easy_setopt(e, CURLOPT_NOBODY, 0L); rc != CURLE_OK) return rc;
  if (!request_sends_body(method, body_)) {
    const char* custom = method == "GET" ? nullptr : method.c_str();
    if (CURLcode rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom); rc != CURLE_OK) return rc;
    return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  // POSTFIELDS makes it a POST; CUSTOMREQUEST renames the verb (PUT, PATCH...) and keeps the body.
  const char* custom = method == "POST" ? nullptr : method.c_str();
  if (CURLcode rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom); rc != CURLE_OK) return rc;
  const auto size = static_cast<curl_off_t>(body_.size());
  if (CURLcode rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size); rc != CURLE_OK) return rc;
  return curl_easy_setopt(e, CURLOPT_POSTFIELDS, body_.data());
}

void Transfer::finish(CURLcode result) {
  if (result != CURLE_OK) {
    fail(result, error_detail_);
    return;
  }
  response_.elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  long status = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status > 0) {
    response_.status = status;
    return;
  }
  fail(CURLE_WEIRD_SERVER_REPLY, "no HTTP status");
}

void Transfer::fail(CURLcode code, std::string_view detail) {
  response_.elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  response_.status = 0;
  response_.transport_error = static_cast<int>(code);
  response_.error = curl_easy_strerror(code);
  if (!detail.empty() && detail != response_.error) {
    response_.error += ": ";
    response_.error += detail;
  }
}

void Transfer::abort() {
  fail(CURLE_ABORTED_BY_CALLBACK, "");
  response_.error = "aborted";
}

void Transfer::recycle() {
  // The body is the caller's buffer; holding it in an idle pooled transfer would only waste memory.
  body_ = std::string();
  if (easy_) {
    // The handle must not point at what is freed here.
    curl_easy_setopt(easy_.get(), CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(easy_.get(), CURLOPT_CURLU, nullptr);
  }
  url_.reset();
  // Row headers have no size limit: a transfer that once carried large ones does not keep their memory.
  if (header_text_.capacity() > kKeptHeaderBytes) {
    header_text_ = std::string();
    header_nodes_ = std::vector<curl_slist>();
  }
  response_.status = 0;
  response_.transport_error = 0;
  response_.error.clear();
  response_.retry_after.clear();
  response_.body_excerpt.clear();
  response_.elapsed = {};
}

Transfer* Transfer::from(CURL* easy) {
  char* self = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &self);
  return reinterpret_cast<Transfer*>(self);
}

void Transfer::on_header_line(std::string_view line) {
  // A status line starts a new response (after a 1xx, say): only the final response's headers count.
  if (line.starts_with("HTTP/")) {
    response_.retry_after.clear();
    return;
  }
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (!starts_with_ignoring_case(line, kRetryAfter)) return;
  response_.retry_after.assign(trim(line.substr(kRetryAfter.size()), " \t\r\n"));
}

void Transfer::on_body_bytes(std::string_view bytes) {
  const std::size_t limit = settings_.body_excerpt_bytes;
  const std::size_t room = limit - std::min(limit, response_.body_excerpt.size());
  response_.body_excerpt.append(bytes.substr(0, room));
}

std::size_t Transfer::cb_header(char* data, std::size_t size, std::size_t count, void* userp) {
  static_cast<Transfer*>(userp)->on_header_line(std::string_view(data, size * count));
  return size * count;
}

// Everything past the excerpt is read and dropped: the response only matters for its status.
std::size_t Transfer::cb_write(char* data, std::size_t size, std::size_t count, void* userp) {
  static_cast<Transfer*>(userp)->on_body_bytes(std::string_view(data, size * count));
  return size * count;
}

}  // namespace http::detail
