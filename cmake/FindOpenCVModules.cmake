# Debian's per-module libopencv-*-dev packages ship neither a CMake config nor a .pc file
# (only the huge libopencv-dev does), so find the three modules we use by hand.
find_path(OpenCVModules_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
foreach(module core imgproc imgcodecs)
  find_library(OpenCVModules_${module}_LIBRARY opencv_${module})
  list(APPEND _opencv_vars OpenCVModules_${module}_LIBRARY)
endforeach()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVModules REQUIRED_VARS OpenCVModules_INCLUDE_DIR ${_opencv_vars})
if(OpenCVModules_FOUND)
  foreach(module core imgproc imgcodecs)
    if(NOT TARGET OpenCV::${module})
      add_library(OpenCV::${module} UNKNOWN IMPORTED)
      set_target_properties(OpenCV::${module} PROPERTIES
        IMPORTED_LOCATION "${OpenCVModules_${module}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVModules_INCLUDE_DIR}")
    endif()
  endforeach()
endif()
