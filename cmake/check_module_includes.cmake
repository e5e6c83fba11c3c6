# Every `#include "mtk/<module>/..."` in a module's sources and headers must name the module itself
# or a module it links directly (mtk_module(<name> <deps>) in CMakeLists.txt): the include graph is
# the declared graph (../shared/DESIGN.md "Modules").
#
# Used two ways: include()d at configure time (fails the configure), and as a CTest test
#   cmake -DMTK_SOURCE_DIR=... -DMTK_DEPS_FILE=<build>/generated/module_deps.cmake -P this file
# so that an include added to an existing file fails the tests even without a reconfigure.
if(NOT DEFINED MTK_SOURCE_DIR)
  set(MTK_SOURCE_DIR ${CMAKE_SOURCE_DIR})
endif()
if(DEFINED MTK_DEPS_FILE)
  include(${MTK_DEPS_FILE})  # sets MTK_MODULES and MTK_DEPS_<module>
endif()
set(_mtk_bad "")
foreach(_m ${MTK_MODULES})
  file(GLOB _files ${MTK_SOURCE_DIR}/src/${_m}/*.cpp ${MTK_SOURCE_DIR}/src/${_m}/*.hpp
                   ${MTK_SOURCE_DIR}/include/mtk/${_m}/*.hpp)
  foreach(_f ${_files})
    file(STRINGS ${_f} _incs REGEX "^[ \t]*#[ \t]*include[ \t]+\"mtk/[a-z_]+/")
    foreach(_line ${_incs})
      string(REGEX REPLACE "^[^\"]*\"mtk/([a-z_]+)/.*" "\\1" _to "${_line}")
      if(NOT _to STREQUAL _m)
        list(FIND MTK_DEPS_${_m} "mtk_${_to}" _found)
        if(_found EQUAL -1)
          file(RELATIVE_PATH _rel ${MTK_SOURCE_DIR} ${_f})
          string(APPEND _mtk_bad "\n  ${_rel}: ${_m} -> ${_to}")
        endif()
      endif()
    endforeach()
  endforeach()
endforeach()
if(_mtk_bad)
  message(FATAL_ERROR "include edges between modules that CMakeLists.txt does not declare:${_mtk_bad}\n"
                      "Either declare the dependency in the module's mtk_module(...) line (if DESIGN.md allows "
                      "that arrow) or move the code to the module it belongs to.")
endif()
