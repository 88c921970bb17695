#pragma once

#include <span>
#include <string_view>

// The SQL files of sql/, compiled into the binary (see cmake/embed_sql.cmake).
namespace outbox_sql {

struct Migration {
  int version;            // from the file name: 0001_schema.sql is version 1
  std::string_view name;  // the file name
  std::string_view text;
};

struct Script {
  std::string_view name;
  std::string_view text;
};

// Versioned migrations in ascending version order.
std::span<const Migration> migrations();
// The trigger scripts of sql/triggers/, re-runnable, applied after the migrations.
std::span<const Script> triggers();

}  // namespace outbox_sql
