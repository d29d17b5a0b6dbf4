// The readiness ladder from what status knows of a node: the rungs a pool's nodes climb, each
// reached only above a reached one, and the summary status prints.
#include "burst/readiness.h"

#include <gtest/gtest.h>

namespace carrierarr::burst {
namespace {

spec::PoolSpec GpuPool() {
  spec::PoolSpec pool;
  pool.name = "gpu";
  pool.type = spec::PoolType::kGpuWorker;
  pool.models = {"llama3:8b", "nomic-embed-text"};
  return pool;
}

std::vector<std::string> Names(const std::vector<Rung>& ladder) {
  std::vector<std::string> out;
  for (const Rung& r : ladder) out.push_back(r.name + (r.reached ? " +" : " -"));
  return out;
}

TEST(ReadinessTest, AGpuNodeWithModelsClimbsEveryRung) {
  NodeFacts f{.running = true,
              .lifecycle = "connected",
              .mesh_up = true,
              .gpus = 1,
              .gpus_allocatable = 1,
              .ollama_up = true,
              .loaded = {"llama3:8b"}};
  auto ladder = Ladder(GpuPool(), f);
  EXPECT_EQ(Names(ladder), (std::vector<std::string>{
                               "instance running +", "mesh up +", "agent registered +",
                               "GPU visible +", "GPU allocatable +", "Ollama up +",
                               "model llama3:8b loaded +", "model nomic-embed-text loaded -"}));
  EXPECT_EQ(LadderSummary(ladder), "model llama3:8b loaded; next: model nomic-embed-text loaded");
  f.loaded.insert("nomic-embed-text");
  EXPECT_EQ(LadderSummary(Ladder(GpuPool(), f)), "serving");
}

// Ready is not allocatable: the device plugin may report no GPU yet.
TEST(ReadinessTest, ANodeWhoseGpuIsNotAllocatableStopsThere) {
  NodeFacts f{.running = true,
              .lifecycle = "connected",
              .mesh_up = true,
              .gpus = 1,
              .gpus_allocatable = 0,
              .ollama_up = true,
              .loaded = {"llama3:8b", "nomic-embed-text"}};
  auto ladder = Ladder(GpuPool(), f);
  EXPECT_EQ(LadderSummary(ladder), "GPU visible; next: GPU allocatable");
  EXPECT_FALSE(ladder.back().reached) << "nothing counts above a missing rung";
}

TEST(ReadinessTest, RungsThatDoNotApplyAreLeftOut) {
  spec::PoolSpec cpu;
  cpu.name = "cpu";
  cpu.type = spec::PoolType::kCpuWorker;
  auto ladder = Ladder(cpu, {.running = true, .lifecycle = "connected", .mesh_up = true});
  EXPECT_EQ(Names(ladder),
            (std::vector<std::string>{"instance running +", "mesh up +", "agent registered +"}));
  EXPECT_EQ(LadderSummary(ladder), "serving");
  // Not in a cluster carrierarr reads: no allocatable rung.
  auto gpu = Ladder(GpuPool(), {.running = true});
  EXPECT_EQ(gpu[4].name, "Ollama up");
  EXPECT_EQ(LadderSummary(gpu), "instance running; next: mesh up");
  EXPECT_EQ(LadderSummary(Ladder(GpuPool(), {})), "stopped");
  // A stale agent's old report does not make a stopped node look ready.
  EXPECT_EQ(
      LadderSummary(Ladder(
          GpuPool(), {.running = false, .lifecycle = "connected", .mesh_up = true, .gpus = 1})),
      "stopped");
}

}  // namespace
}  // namespace carrierarr::burst
