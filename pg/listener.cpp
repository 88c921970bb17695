#include "pg/listener.hpp"

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace pg {

namespace {

// A delimited identifier, as PQescapeIdentifier makes it (which needs a live PGconn): double quotes
// around, inner quotes doubled. Quoting keeps the channel's exact spelling, matching pg_notify('Name').
std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (const char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string checked_channel(std::string channel) {
  if (channel.empty()) throw std::invalid_argument("pg::Listener: the channel name is empty");
  if (std::ranges::find(channel, '\0') != channel.end())
    throw std::invalid_argument("pg::Listener: the channel name contains a NUL byte");
  return channel;
}

}  // namespace

Listener::Listener(uv_loop_t* loop, ConnInfo info, ConnectionOptions options, std::string channel,
                   Events events)
    : channel_(checked_channel(std::move(channel))),
      events_(std::move(events)),
      conn_(loop, std::move(info), std::move(options),
            ConnectionEvents{
                .on_ready = [this] { on_ready(); },
                .on_lost = [this](std::string_view reason) { on_lost(reason); },
                .on_notification =
                    [this](Notification&& n) {
                      if (events_.on_notification) events_.on_notification(std::move(n));
                    },
            }) {}

void Listener::start() {
  conn_.start();
}

void Listener::close() {
  listening_ = false;
  conn_.close();
}

void Listener::on_ready() {
  conn_.execute("LISTEN " + quote_identifier(channel_), {}, [this](Result&& r) {
    if (r.connection_failed()) return;  // on_lost reports it, and the next on_ready listens again
    if (!r.ok()) {
      // E.g. a hot standby refuses LISTEN: the connection stays up, but the owner must not count on wakes.
      spdlog::error("pg {}: LISTEN {} failed: {}", conn_.name(), channel_, r.error());
      return;
    }
    listening_ = true;
    spdlog::debug("pg {}: listening on {}", conn_.name(), channel_);
    if (events_.on_listening) events_.on_listening();
  });
}

void Listener::on_lost(std::string_view reason) {
  listening_ = false;
  if (events_.on_lost) events_.on_lost(reason);
}

}  // namespace pg
