#include <cstdlib>

#include <curl/curl.h>

namespace {

// curl_global_init belongs to main() in the daemon; this test program has no main of its own (Catch2's),
// so the one process-wide initialisation lives here, before any test runs.
struct CurlGlobal {
  CurlGlobal() {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) std::abort();
  }
  ~CurlGlobal() { curl_global_cleanup(); }
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

const CurlGlobal curl_global;

}  // namespace
