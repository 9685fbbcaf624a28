# libuv's headers for the small-call lane (native/binding/small_call_lane.cc), which drives the event
# loop with uv_idle/uv_async handles. cmake-js builds against node-api-headers, which has no uv.h, so
# it is taken from the running node's own headers (<prefix>/include/node, as Debian's nodejs and the
# official tarballs ship them) or TORCHREC_UV_INCLUDE_DIR. Only uv.h and uv/ are exposed (through
# links in the build tree), so node-api-headers stays the one source of node_api.h. Without them the
# addon builds without the lane and small async forwards take libuv's pool, as before (issue 19).
set(TORCHREC_UV_INCLUDE_DIR "" CACHE PATH "directory holding libuv's uv.h for the small-call lane")
if(NOT TORCHREC_UV_INCLUDE_DIR)
  execute_process(COMMAND node -p "require('path').resolve(process.execPath, '../../include/node')"
    OUTPUT_VARIABLE _node_include OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_node_include AND EXISTS "${_node_include}/uv.h" AND IS_DIRECTORY "${_node_include}/uv")
    set(TORCHREC_UV_INCLUDE_DIR "${_node_include}")
  endif()
endif()
if(TORCHREC_UV_INCLUDE_DIR AND EXISTS "${TORCHREC_UV_INCLUDE_DIR}/uv.h")
  set(_uv_links "${CMAKE_BINARY_DIR}/uv_include")
  file(MAKE_DIRECTORY "${_uv_links}")
  file(CREATE_LINK "${TORCHREC_UV_INCLUDE_DIR}/uv.h" "${_uv_links}/uv.h" SYMBOLIC)
  file(CREATE_LINK "${TORCHREC_UV_INCLUDE_DIR}/uv" "${_uv_links}/uv" SYMBOLIC)
  target_include_directories(${PROJECT_NAME} PRIVATE "${_uv_links}")
  message(STATUS "small-call lane: libuv headers from ${TORCHREC_UV_INCLUDE_DIR}")
else()
  target_compile_definitions(${PROJECT_NAME} PRIVATE TORCHREC_NO_SMALL_CALL_LANE)
  message(STATUS "small-call lane: off (no uv.h; set TORCHREC_UV_INCLUDE_DIR)")
endif()
