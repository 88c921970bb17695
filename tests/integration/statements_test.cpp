// The plans of the relay's hot statements, as its work sessions run them: one generic plan per statement,
// reused for every execution, so that plan must be right for any batch size.

#include <string>

#include "pg/session.hpp"
#include "relay/outbox_queries.hpp"
#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

// A session set up like the relay's claim and outcome connections, with its hot statements prepared.
pg::Session relay_like_session(const PgCluster& pg) {
  pg::Session s(pg::ConnInfo::parse(pg.url()), "statements_test");
  for (const auto& setting : relay::queries::work_session_settings())
    REQUIRE(s.exec(setting.set_command()).ok());
  for (const auto* statement : {&relay::queries::claim, &relay::queries::complete, &relay::queries::sweep}) {
    const auto r = s.exec("PREPARE " + std::string(statement->name) + " AS " + std::string(statement->sql));
    INFO(r.error());
    REQUIRE(r.ok());
  }
  return s;
}

std::string plan_of(pg::Session& s, const std::string& execute) {
  const auto r = s.exec("EXPLAIN " + execute);
  INFO(r.error());
  REQUIRE(r.ok());
  std::string plan;
  for (int row = 0; row < r.rows(); ++row)
    plan.append(r.value(row, 0)).append("\n");
  return plan;
}

// EXECUTE of the completion statement recording every row leased by `owner` as sent.
std::string complete_all_of(const PgCluster& pg, const std::string& owner) {
  const auto leased = pg.query(
      "SELECT array_agg(id ORDER BY id), array_agg(attempts ORDER BY id), count(*) "
      "FROM outbox.messages WHERE lease_owner = '" +
      owner + "'");
  const std::string& n = leased.at(0).at(2);
  return "EXECUTE " + std::string(relay::queries::complete.name) + "('" + leased[0][0] + "', '" +
         leased[0][1] + "', array_fill('sent'::text, ARRAY[" + n + "]), array_fill(0, ARRAY[" + n +
         "]), array_fill(200, ARRAY[" + n + "]), array_fill(NULL::text, ARRAY[" + n +
         "]), array_fill(0::bigint, ARRAY[" + n + "]), '" + owner + "', 5)";
}

}  // namespace

TEST_CASE("the relay's claim and outcome statements keep plans that scale with the batch") {
  RelayFixture f;
  f.insert_messages(3000);
  // Statistics taken while nothing is leased, as on a table the relay keeps drained: the planner then
  // believes the lease index to be empty, which made it the cheapest path for outcomes.
  f.pg.exec("ANALYZE outbox.messages");
  auto s = relay_like_session(f.pg);

  const std::string claim = "EXECUTE " + std::string(relay::queries::claim.name) + "('me', 60000, 2000)";
  const std::string claim_plan = plan_of(s, claim);
  INFO(claim_plan);
  CHECK(claim_plan.find("messages_claim") != std::string::npos);
  const auto claimed = s.exec(claim);
  REQUIRE(claimed.ok());
  REQUIRE(claimed.rows() == 2000);

  // Each outcome is found by its primary key: the lease index would be scanned once per outcome in a
  // nested loop, quadratic in the batch.
  const std::string complete_plan = plan_of(s, complete_all_of(f.pg, "me"));
  INFO(complete_plan);
  CHECK(complete_plan.find("messages_pkey") != std::string::npos);
  CHECK(complete_plan.find("messages_lease_expiry") == std::string::npos);
  const auto recorded = s.exec(complete_all_of(f.pg, "me"));
  INFO(recorded.error());
  REQUIRE(recorded.ok());
  CHECK(recorded.value(0, 0) == "2000");
  CHECK(f.count("status = 'sent'") == 2000);
  CHECK(f.count("status = 'pending'") == 1000);
}

// An outbox is often near empty when the relay starts (or after a purge) and fills faster than autovacuum
// analyzes it; a generic plan built then is kept while the table grows. On statistics of a drained table
// every path costs about the same, and the outcome batch became a sequential scan of the whole table.
TEST_CASE("the relay's statements planned on a drained table stay cheap when a backlog builds up") {
  RelayFixture f;
  // An autovacuum ANALYZE in the middle would have the plans rebuilt on fresh statistics.
  f.pg.exec("ALTER TABLE outbox.messages SET (autovacuum_enabled = off)");
  f.insert_messages(2000);
  f.pg.exec("UPDATE outbox.messages SET status = 'sent', sent_at = now()");
  f.insert_messages(3);
  f.pg.exec("ANALYZE outbox.messages");
  auto s = relay_like_session(f.pg);
  const std::string claim = "EXECUTE " + std::string(relay::queries::claim.name) + "('me', 60000, 100)";
  const std::string sweep = "EXECUTE " + std::string(relay::queries::sweep.name) + "(1000, 5)";
  // Each statement runs once on the drained table, which builds and keeps its generic plan.
  REQUIRE(s.exec(claim).rows() == 3);
  REQUIRE(s.exec(sweep).ok());
  REQUIRE(s.exec("EXECUTE " + std::string(relay::queries::complete.name) +
                 "('{}', '{}', '{}', '{}', '{}', '{}', '{}', 'me', 5)")
              .ok());

  f.insert_messages(5000);
  const auto claimed = s.exec(claim);
  REQUIRE(claimed.rows() == 100);
  const std::string complete = complete_all_of(f.pg, "me");
  const std::string claim_plan = plan_of(s, claim);
  const std::string complete_plan = plan_of(s, complete);
  const std::string sweep_plan = plan_of(s, sweep);
  for (const std::string* plan : {&claim_plan, &complete_plan, &sweep_plan}) {
    INFO(*plan);
    CHECK(plan->find("Seq Scan") == std::string::npos);
    CHECK(plan->find("Sort") == std::string::npos);
    CHECK(plan->find("Nested Loop") == std::string::npos);
  }
  INFO(claim_plan);
  CHECK(claim_plan.find("Index Scan using messages_claim") != std::string::npos);
  // An ordering key's earlier rows are looked up by key, not among all rows with a lower id.
  CHECK(claim_plan.find("Index Scan using messages_ordering") != std::string::npos);
  // Outcomes and swept rows are looked up by key, not found by reading the whole primary key index.
  INFO(complete_plan);
  CHECK(complete_plan.find("Index Cond: (id = ANY") != std::string::npos);
  INFO(sweep_plan);
  CHECK(sweep_plan.find("Index Cond: (id = ANY") != std::string::npos);
  const auto recorded = s.exec(complete);
  INFO(recorded.error());
  REQUIRE(recorded.ok());
  CHECK(recorded.value(0, 0) == "103");
}
