// Our TV-L1 optical flow (native/tvl1.cc): the algorithm and defaults of OpenCV's cv::optflow::DualTVL1OpticalFlow
// (gamma = 0), float32, vectorised for AVX-512 / AVX2+FMA with a scalar fallback chosen at run time.
#pragma once

#include <string>

namespace i3d {
namespace tvl1 {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct Params {
  double tau = 0.25, lambda = 0.15, theta = 0.3;
  int scales = 5, warps = 5;
  double epsilon = 0.01;
  int innerIterations = 30, outerIterations = 10;
  double scaleStep = 0.8;
  int medianFiltering = 5;  // 1, 3 or 5
};

// The widest vector ISA this CPU runs.
Isa BestIsa();
// The ISA a computation uses: `request` ("auto" or "" reads $I3D_FLOW_ISA) = avx512, avx2 or scalar, capped by
// BestIsa(). Throws std::invalid_argument for another name.
Isa ChooseIsa(const std::string& request);
const char* IsaName(Isa isa);

// Flow from i0 to i1 (gray, width x height, row-major, values in 0..255): flow gets height * width * (x, y).
void Flow(const float* i0, const float* i1, int width, int height, const Params& p, Isa isa, float* flow);

}  // namespace tvl1
}  // namespace i3d
