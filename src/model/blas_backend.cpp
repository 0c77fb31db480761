// Which BLAS library serves LibTorch's matrix products. Debian's LibTorch calls BLAS through the
// generic interface, so it is whatever libblas.so.3 the alternatives system points at: the
// reference BLAS (about 40x slower for a transformer's matmuls) unless OpenBLAS is installed.
#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "wsi/model/model.hpp"

namespace wsi {

BlasBackend blas_backend() {
  BlasBackend blas;
  void* gemm = ::dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (gemm == nullptr || ::dladdr(gemm, &info) == 0 || info.dli_fname == nullptr) {
    blas.name = "none found (sgemm_ is not loaded)";
    return blas;
  }
  char resolved[PATH_MAX] = {};
  blas.library = ::realpath(info.dli_fname, resolved) != nullptr ? resolved : info.dli_fname;
  using ConfigFunction = char* (*)();
  if (auto config = reinterpret_cast<ConfigFunction>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    blas.name = config();
  } else if (blas.library.find("mkl") != std::string::npos) {
    blas.name = "Intel MKL";
  } else if (blas.library.find("blis") != std::string::npos) {
    blas.name = "BLIS";
  } else if (blas.library.find("atlas") != std::string::npos) {
    blas.name = "ATLAS";
  } else if (blas.library.find("/blas/") != std::string::npos) {
    blas.name = "reference BLAS (netlib)";
    blas.reference = true;
  } else {
    blas.name = "unknown";
  }
  return blas;
}

void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  if (threads <= 0) return;
  if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

}  // namespace wsi
