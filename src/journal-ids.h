/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Stable MESSAGE_ID= values of memqosd's structured journal records, one per kind of event.
 * Generated once with `systemd-id128 new`; never change or reuse one. Each is explained in
 * systemd/memqosd.catalog (installed for `journalctl -x`).
 */

#define MEMQOSD_MESSAGE_START             "72519ce48a234f73ab4657d1d36b0595"
#define MEMQOSD_MESSAGE_STOP              "775f8a413e2a4c6b96f85073b40db42c"
#define MEMQOSD_MESSAGE_RELOAD_OK         "8d1ca428517d4275aae978ac080f3270"
#define MEMQOSD_MESSAGE_RELOAD_REFUSED    "664935235cf24cf6b7a976cd77c04792"
#define MEMQOSD_MESSAGE_TENANT_ADDED      "5d38ee8871004f03b00a0de2ec172973"
#define MEMQOSD_MESSAGE_TENANT_REMOVED    "80984498fae84219a5d03e9456dbe891"
#define MEMQOSD_MESSAGE_TENANT_WAITING    "b09cdb3af8b54159900108ae0b1d639b"
#define MEMQOSD_MESSAGE_TENANT_RELEASED   "94311618ce2b41a9925f6a1deaedd152"
#define MEMQOSD_MESSAGE_HIGH_CHANGED      "9965b7b149e641bf809380a448bfbd3f"
#define MEMQOSD_MESSAGE_LOW_CHANGED       "34ae800414824ea7935cf595f920c2cc"
#define MEMQOSD_MESSAGE_RESTORED          "580986d16ae8415ca1b49cfd2256b5c2"
#define MEMQOSD_MESSAGE_TENANT_ACTIVE     "6c7d832b45cb436d8f51204c745d1c90"
#define MEMQOSD_MESSAGE_ORIGINALS_RECOVERED "f909ae316d3f49429bbec851c6ea571f"
#define MEMQOSD_MESSAGE_TENANT_NO_POLICY  "f47d3f321c144fe4aa28928b880e78e1"
#define MEMQOSD_MESSAGE_OOM_RISK          "ab619dcff73b42a28723c2177367464e"
#define MEMQOSD_MESSAGE_TEMPLATE_OVER_BOUND "ef07990c8f644566a7517fc1be10412f"
