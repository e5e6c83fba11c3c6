// The visual ranking suite (tests/metrics/ranking_scenes.hpp): 11 scenes we wrote, each with a
// recoloured, a shifted, a different and a blank variant, rendered for real by the sandboxed
// renderer (render pool + render cache). FVS must order every scene strictly
//   identical > recoloured > shifted > different > blank;
// the paper's S_SSIM (and S_CLIP / VS once wired in) are reported, not asserted.
#include <catch2/catch.hpp>

#include "ranking_scenes.hpp"

using mtk::testing::kVariantNames;
using mtk::testing::kVariants;

TEST_CASE("ranking suite: FVS orders identical > recoloured > shifted > different > blank in every scene",
          "[ranking]") {
  const auto r = mtk::testing::run_ranking_suite();
  REQUIRE(r.rows.size() >= 10);
  WARN("visual ranking suite (" << r.renders << " renders, " << r.cached << " cached, " << r.render_s
                                << " s rendering, " << r.metric_s << " s metrics)\n"
                                << mtk::testing::ranking_table(r));
  for (const auto& row : r.rows) {
    const auto& fvs = row.scores.at("FVS");
    REQUIRE(fvs.size() == static_cast<size_t>(kVariants));
    for (int k = 0; k < kVariants; ++k) {
      INFO(row.scene << " " << kVariantNames[k] << ": " << row.frames[k] << " frames");
      CHECK(row.frames[k] >= 3);  // 1 s or more of video at 5 fps
    }
    INFO(row.scene << " FVS " << fvs[0] << " " << fvs[1] << " " << fvs[2] << " " << fvs[3] << " " << fvs[4]);
    CHECK(fvs[0] == 1.0);
    for (int k = 0; k + 1 < kVariants; ++k) CHECK(fvs[k] > fvs[k + 1]);
    CHECK(row.tau.at("FVS") == 1.0);
    CHECK(fvs[4] <= 0.2);  // drawing nothing earns next to nothing
    // S_SSIM scores the identical render 1 by definition.
    CHECK(row.scores.at("S_SSIM")[0] == Approx(1.0).margin(1e-12));
  }
  CHECK(r.mean_tau.at("FVS") == Approx(1.0));
}

TEST_CASE("Kendall tau against the expected order", "[ranking]") {
  using mtk::testing::kendall_tau;
  CHECK(kendall_tau({5, 4, 3, 2, 1}) == 1.0);
  CHECK(kendall_tau({1, 2, 3, 4, 5}) == -1.0);
  CHECK(kendall_tau({5, 4, 3, 1, 2}) == Approx(0.8));
  CHECK(kendall_tau({1, 1, 0.5, 0.2, 0.9}) == Approx((7 - 2) / 10.0));  // one tie, two discordant
}
