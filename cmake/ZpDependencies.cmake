# Finds every external dependency once and records what is available in ZP_HAVE_* variables.

# libtorch: Debian's libtorch-dev (CPU) or any libtorch 2.x via -DTorch_DIR=... (CUDA or not).
find_package(Torch REQUIRED)
# Torch's config adds its flags to CMAKE_CXX_FLAGS only through TORCH_CXX_FLAGS; keep them on targets.
separate_arguments(ZP_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

# Header-only libraries. ZP_THIRD_PARTY_INCLUDE lets a machine without the Debian packages
# (the GPU machine) point at copies of the headers.
set(ZP_THIRD_PARTY_INCLUDE "" CACHE PATH "Extra include dir holding nlohmann/json.hpp and CLI/CLI.hpp")
find_package(nlohmann_json 3.9 QUIET)
if(NOT nlohmann_json_FOUND)
  find_path(ZP_NLOHMANN_INCLUDE nlohmann/json.hpp HINTS ${ZP_THIRD_PARTY_INCLUDE} REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${ZP_NLOHMANN_INCLUDE})
endif()
find_package(CLI11 QUIET)
if(NOT CLI11_FOUND)
  find_path(ZP_CLI11_INCLUDE CLI/CLI.hpp HINTS ${ZP_THIRD_PARTY_INCLUDE} REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${ZP_CLI11_INCLUDE})
endif()

# Optional text libraries for the tokenizers.
find_package(PkgConfig QUIET)
set(ZP_HAVE_SENTENCEPIECE OFF)
set(ZP_HAVE_PCRE2 OFF)
if(PkgConfig_FOUND)
  pkg_check_modules(ZP_SENTENCEPIECE QUIET IMPORTED_TARGET sentencepiece)
  pkg_check_modules(ZP_PCRE2 QUIET IMPORTED_TARGET libpcre2-8)
  if(ZP_SENTENCEPIECE_FOUND)
    set(ZP_HAVE_SENTENCEPIECE ON)
  endif()
  if(ZP_PCRE2_FOUND)
    set(ZP_HAVE_PCRE2 ON)
  endif()
endif()

# CUDA: compiled where nvcc is found. The .cu files are plain CUDA behind C++ launchers, so they
# build against any libtorch; kernels dispatch to them only for tensors on a CUDA device.
set(ZP_HAVE_CUDA OFF)
if(ZP_WITH_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    set(ZP_HAVE_CUDA ON)
  else()
    message(STATUS "ZeroPoint: nvcc not found - CUDA kernels are not built")
  endif()
endif()

# Torch built with CUDA? Only then can the launchers get a CUDA stream from it.
set(ZP_TORCH_HAS_CUDA OFF)
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(ZP_TORCH_HAS_CUDA ON)
endif()

set(ZP_HAVE_QT OFF)
set(ZP_HAVE_QTTEST OFF)
if(ZP_BUILD_GUI OR ZP_BUILD_TESTS)
  find_package(Qt6 QUIET COMPONENTS Core Widgets Test)
  if(Qt6_FOUND)
    set(ZP_HAVE_QT ON)
    set(ZP_HAVE_QTTEST ON)
  endif()
endif()
set(ZP_HAVE_QCUSTOMPLOT OFF)
if(ZP_BUILD_GUI AND ZP_HAVE_QT)
  find_package(QCustomPlotQt6 QUIET)
  if(QCustomPlotQt6_FOUND)
    set(ZP_HAVE_QCUSTOMPLOT ON)
  endif()
endif()

set(ZP_HAVE_HDF5 OFF)
if(ZP_WITH_HDF5)
  find_package(HDF5 QUIET COMPONENTS C)
  if(HDF5_FOUND)
    set(ZP_HAVE_HDF5 ON)
  endif()
endif()

# A BLAS of its own for the proxy Hessian's dsyrk (core/quant/gram.cpp); Debian's libtorch-dev
# brings libblas-dev (OpenBLAS once libopenblas0-pthread is installed). Without one, X^T X by addmm.
set(ZP_HAVE_BLAS OFF)
if(ZP_WITH_BLAS)
  find_package(BLAS QUIET)
  if(BLAS_FOUND)
    set(ZP_HAVE_BLAS ON)
  endif()
endif()

message(STATUS "ZeroPoint: torch ${Torch_VERSION} cuda-kernels=${ZP_HAVE_CUDA} torch-cuda=${ZP_TORCH_HAS_CUDA} "
               "qt=${ZP_HAVE_QT} qcustomplot=${ZP_HAVE_QCUSTOMPLOT} hdf5=${ZP_HAVE_HDF5} "
               "sentencepiece=${ZP_HAVE_SENTENCEPIECE} pcre2=${ZP_HAVE_PCRE2} blas=${ZP_HAVE_BLAS}")

# Common compile settings for our own targets.
function(zp_target_defaults target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter ${ZP_TORCH_CXX_FLAGS}>)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()
