// The epidemic model end to end, through real `meshsim run` clusters: the
// same answer on any node count, partition and transport; the well-mixed
// cases against the SIR final-size equation, through direct sends and
// through one mailbox every person subscribes to; exact mailbox fan-out
// counts; the CSV export.
#include <cmath>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "tests/testing/meshsim_process.h"

namespace meshsim::testing {
namespace {

class EpidemicTest : public ::testing::Test {
 protected:
  nlohmann::json Run(const std::string& scenario_path, int nodes,
                     const std::vector<std::string>& extra = {}) {
    const std::string tag = NewTag();
    const std::string out = dir_.path() + "/result-" + tag + ".json";
    std::vector<std::string> args = {"run", scenario_path, "--nodes", std::to_string(nodes), "--json", out};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = RunMeshsim(args, tag);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(TaggedProcesses(tag).empty()) << "meshsim run left processes behind";
    return ReadJson(out);
  }

  // A scenario where only the listed parameters differ from the model's
  // defaults that matter here.
  std::string WellMixed(const std::string& name, const std::string& params) {
    return dir_.Write(name + ".yaml", "name: " + name +
                                          "\nmodel: epidemic\nseed: 11\nend_time: 400\nlookahead: 0.5\n"
                                          "nodes: 2\npartition: block\ntransport: auto\nparams:\n" +
                                          params);
  }

  TempDir dir_;
  const std::string town_ = SourcePath("scenarios/epidemic.yaml");
};

std::vector<int64_t> Series(const nlohmann::json& result, const std::string& name) {
  return result["series"][name].get<std::vector<int64_t>>();
}

TEST_F(EpidemicTest, SameAnswerOnOneTwoAndFourNodesOverEitherTransport) {
  const nlohmann::json one = Run(town_, 1);
  ASSERT_EQ(one["state"], "COMPLETED") << one.dump();
  ASSERT_GT(one["summary"]["infected_household"].get<int64_t>(), 0);
  ASSERT_GT(one["summary"]["infected_workplace"].get<int64_t>(), 0);
  ASSERT_GT(one["summary"]["infected_community"].get<int64_t>(), 0);
  const std::string yaml = ReadText(town_);
  struct Variant {
    int nodes;
    std::string transport;
    std::string partition;
  };
  for (const Variant& v : {Variant{2, "auto", "block"}, Variant{4, "auto", "block"},
                           Variant{2, "tcp", "block"}, Variant{4, "tcp", "round_robin"}}) {
    const std::string label = std::to_string(v.nodes) + " nodes " + v.transport + " " + v.partition;
    const std::string path = dir_.Write("town-" + v.transport + v.partition + ".yaml",
                                        WithLine(WithLine(yaml, "transport", "transport: " + v.transport),
                                                 "partition", "partition: " + v.partition));
    const nlohmann::json many = Run(path, v.nodes);
    ASSERT_EQ(many["state"], "COMPLETED") << label << many.dump();
    EXPECT_EQ(many["digest"], one["digest"]) << label;
    EXPECT_EQ(many["committed_events"], one["committed_events"]) << label;
    EXPECT_EQ(many["summary"], one["summary"]) << label;
    EXPECT_EQ(many["series"], one["series"]) << label;
    // Posts and deliveries are the model's; only where they travel depends
    // on the partition.
    EXPECT_EQ(many["mailboxes"]["posts"], one["mailboxes"]["posts"]) << label;
    EXPECT_EQ(many["mailboxes"]["deliveries"], one["mailboxes"]["deliveries"]) << label;
    EXPECT_EQ(many["mailboxes"]["count"], one["mailboxes"]["count"]) << label;
    EXPECT_GT(many["mailboxes"]["remote_events"].get<uint64_t>(), 0u) << label;
    for (const auto& link : many["links"]) {
      EXPECT_EQ(link["transport"], v.transport == "tcp" ? "tcp" : "shm") << label;
    }
  }
  EXPECT_EQ(one["mailboxes"]["remote_events"], 0) << "one node has nobody to send to";
}

// The final-size equation of the well-mixed SIR epidemic: the fraction
// never infected, s, satisfies s = (1 - i0) exp(-R0 (1 - s)), whatever the
// latent period and the infectious period's distribution. For a population
// of N the final fraction infected is asymptotically normal around 1 - s
// with variance z (1 - z) (1 + c^2 R0^2 (1 - z)) / (1 - R0 (1 - z))^2 / N,
// z = 1 - s, c the infectious period's coefficient of variation (1 for the
// exponential). The test allows 5 standard deviations: a correct model
// essentially never misses, and a wrong R0 (a missed or doubled delivery,
// a wrong rate) moves the attack rate by far more.
struct FinalSize {
  double attack_rate;
  double sd;
};

FinalSize ExpectedFinalSize(double r0, double initial_fraction, double population) {
  double s = 0.5;
  for (int i = 0; i < 10000; ++i) s = (1 - initial_fraction) * std::exp(-r0 * (1 - s));
  const double z = 1 - s;
  const double variance = z * (1 - z) * (1 + r0 * r0 * (1 - z)) / std::pow(1 - r0 * (1 - z), 2);
  return {z, std::sqrt(variance / population)};
}

void ExpectEpidemicOver(const nlohmann::json& result) {
  const auto exposed = Series(result, "exposed");
  const auto infectious = Series(result, "infectious");
  ASSERT_FALSE(exposed.empty());
  EXPECT_EQ(exposed.back() + infectious.back(), 0) << "the epidemic had not ended at end_time";
}

TEST_F(EpidemicTest, WellMixedThroughDirectContactsMatchesTheFinalSizeEquation) {
  // R0 = community_rate * infectious_days = 2.
  const double persons = 100000, initial = 100;
  const auto path = WellMixed("direct",
                              "  persons: 100000\n  initial_infected: 100\n  latent_days: 1\n"
                              "  infectious_days: 5\n  community_rate: 0.4\n  friends: 0\n"
                              "  household_size: 1\n  workplace_size: 0\n");
  const nlohmann::json result = Run(path, 2);
  ASSERT_EQ(result["state"], "COMPLETED") << result.dump();
  ExpectEpidemicOver(result);
  const double attack = result["summary"]["infected"].get<double>() / persons;
  const FinalSize expected = ExpectedFinalSize(2.0, initial / persons, persons);
  EXPECT_NEAR(attack, expected.attack_rate, 5 * expected.sd) << "sd " << expected.sd;
  EXPECT_EQ(result["summary"]["infected_community"].get<double>(),
            result["summary"]["infected"].get<double>() - initial);
  EXPECT_EQ(result["mailboxes"]["count"], 0);
}

TEST_F(EpidemicTest, WellMixedThroughOneMailboxMatchesTheFinalSizeEquationAndFansOutExactly) {
  // One household of everybody: every infection is announced to all N
  // persons, each infected by the announcer at rate household_rate, so
  // R0 = household_rate * infectious_days * (N - 1) = 2.
  const double persons = 4000, initial = 40, days = 5;
  const double rate = 2.0 / (days * (persons - 1));
  const auto path = WellMixed("mailbox",
                              "  persons: 4000\n  initial_infected: 40\n  latent_days: 1\n"
                              "  infectious_days: 5\n  community_rate: 0\n"
                              "  household_size: 4000\n  household_rate: " +
                                  fmt::format("{:.17g}", rate) + "\n  workplace_size: 0\n");
  const int nodes = 3;
  const nlohmann::json result = Run(path, nodes);
  ASSERT_EQ(result["state"], "COMPLETED") << result.dump();
  ExpectEpidemicOver(result);
  const double attack = result["summary"]["infected"].get<double>() / persons;
  const FinalSize expected = ExpectedFinalSize(2.0, initial / persons, persons);
  EXPECT_NEAR(attack, expected.attack_rate, 5 * expected.sd) << "sd " << expected.sd;

  // Each infection posts once; each post reaches every person once, on
  // every node, and crosses once to each other node.
  const auto& mailboxes = result["mailboxes"];
  const uint64_t posts = mailboxes["posts"];
  EXPECT_EQ(posts, result["summary"]["infected"].get<uint64_t>());
  EXPECT_EQ(mailboxes["count"], 1);
  EXPECT_EQ(mailboxes["deliveries"].get<uint64_t>(), posts * 4000);
  EXPECT_EQ(mailboxes["remote_events"].get<uint64_t>(), posts * (nodes - 1));
  ASSERT_EQ(result["nodes"].size(), static_cast<size_t>(nodes));
  for (const auto& node : result["nodes"]) {
    EXPECT_EQ(node["mailboxes"]["deliveries"].get<uint64_t>(), posts * node["lps"].get<uint64_t>())
        << node.dump();
    EXPECT_EQ(node["mailboxes"]["remote_events"].get<uint64_t>(),
              node["mailboxes"]["posts"].get<uint64_t>() * (nodes - 1));
  }
  // Link events include the direct ones; here there are none besides posts.
  uint64_t link_events = 0;
  for (const auto& link : result["links"]) link_events += link["events"].get<uint64_t>();
  EXPECT_EQ(link_events, posts * (nodes - 1));
}

TEST_F(EpidemicTest, CsvHoldsTheSameSeriesAsTheJsonAndEveryPersonIsCountedEachDay) {
  const std::string csv = dir_.path() + "/town.csv";
  const nlohmann::json result = Run(town_, 2, {"--csv", csv});
  ASSERT_EQ(result["state"], "COMPLETED");
  std::ifstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, "time,susceptible,exposed,infectious,recovered");
  const double persons = result["scenario"]["params"]["persons"];
  const auto susceptible = Series(result, "susceptible");
  size_t row = 0;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string cell;
    std::vector<double> values;
    while (std::getline(fields, cell, ',')) values.push_back(std::stod(cell));
    ASSERT_EQ(values.size(), 5u) << line;
    EXPECT_EQ(values[0], static_cast<double>(row));
    EXPECT_EQ(values[1] + values[2] + values[3] + values[4], persons) << "day " << row;
    ASSERT_LT(row, susceptible.size());
    EXPECT_EQ(values[1], static_cast<double>(susceptible[row]));
    ++row;
  }
  EXPECT_EQ(row, static_cast<size_t>(result["scenario"]["end_time"].get<double>()) + 1);
}

// The picture of a run: a PNG (or SVG) with the curve, events per node and
// bytes per link, drawn by gnuplot.
TEST_F(EpidemicTest, PlotDrawsTheRunAsAPicture) {
  const std::string png = dir_.path() + "/town.png";
  ASSERT_EQ(Run(town_, 2, {"--plot", png})["state"], "COMPLETED");
  const std::string bytes = ReadText(png);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << "not a PNG";
  // The IHDR chunk: width and height, big-endian, after the signature.
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3]));
  };
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(16), 1100u);
  EXPECT_EQ(be32(20), 3 * 380u) << "three charts: the series, events per node, bytes per link";
  EXPECT_GT(bytes.size(), 20'000u) << "a picture with content";

  const std::string svg = dir_.path() + "/town.svg";
  ASSERT_EQ(Run(town_, 1, {"--plot", svg})["state"], "COMPLETED");
  const std::string text = ReadText(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("infectious"), std::string::npos) << "the series are named in the legend";

  auto bad = RunMeshsim({"run", town_, "--plot", dir_.path() + "/town.txt"}, NewTag());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--plot"), std::string::npos) << bad.output;
}

TEST_F(EpidemicTest, BadParametersNameTheFieldAndTheRun) {
  const std::string yaml = ReadText(town_);
  const auto latent = dir_.Write("latent.yaml", WithLine(yaml, "lookahead", "lookahead: 2.0"));
  auto result = RunMeshsim({"validate", latent}, NewTag());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("params.latent_days"), std::string::npos) << result.output;

  auto csv =
      RunMeshsim({"run", SourcePath("scenarios/phold.yaml"), "--csv", dir_.path() + "/x.csv"}, NewTag());
  EXPECT_EQ(csv.exit_code, 2) << csv.output;
  EXPECT_NE(csv.output.find("--csv"), std::string::npos) << csv.output;
}

}  // namespace
}  // namespace meshsim::testing
