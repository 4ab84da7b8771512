// SPDX-License-Identifier: MIT
// HEADROOM_TEST_SANITIZED: 1 in builds whose sanitizer runtime replaces
// malloc (ASan, TSan, MSan), where the allocator under test is the
// sanitizer's own.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEADROOM_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define HEADROOM_TEST_SANITIZED 1
#endif
#endif
#ifndef HEADROOM_TEST_SANITIZED
#define HEADROOM_TEST_SANITIZED 0
#endif
