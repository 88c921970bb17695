#pragma once

#include <memory>
#include <utility>

#include <uv.h>

namespace loop {

// Owns one libuv handle of type H. libuv handles may not move and their memory may be released only once
// the close callback has run, so the handle lives on the heap and the destructor hands it to uv_close,
// whose callback frees it. The owner can therefore be destroyed at any time, even from inside one of the
// handle's own callbacks: after uv_close no further callback reaches it.
template <typename H>
class Handle {
 public:
  Handle() = default;
  explicit Handle(std::unique_ptr<H> h) : h_(h.release()) {}
  ~Handle() { reset(); }

  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, nullptr);
    }
    return *this;
  }

  H* get() const { return h_; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(h_); }
  explicit operator bool() const { return h_ != nullptr; }

  // Closes the handle now (no callback runs after this); its memory is freed by the loop later.
  void reset() {
    if (h_ == nullptr) return;
    H* h = std::exchange(h_, nullptr);
    h->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(h), &free_after_close);
  }

 private:
  static void free_after_close(uv_handle_t* h) { std::unique_ptr<H> owned(reinterpret_cast<H*>(h)); }

  H* h_ = nullptr;
};

// Allocates a handle of type H, to be initialised by the caller with the matching uv_*_init. If that init
// fails, the handle was never registered with the loop and dropping the unique_ptr frees it.
template <typename H>
std::unique_ptr<H> allocate() {
  return std::make_unique<H>();
}

}  // namespace loop
