#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks driver/netlink/boundary.yaml: the keys the kernel's YNL schema
(Documentation/netlink/genetlink-c.yaml) allows, references between its
parts, and that its names and implicit numbering match
driver/include/uapi/boundary.h. Needs PyYAML.

    driver/selftests/spec_check.py [SPEC] [HEADER]
"""
import pathlib
import re
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
spec = yaml.safe_load(open(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "netlink/boundary.yaml"))
h = open(sys.argv[2] if len(sys.argv) > 2 else HERE.parent / "include/uapi/boundary.h").read()
# Allowed keys, transcribed from Documentation/netlink/genetlink-c.yaml.
TOP = {'name','doc','protocol','uapi-header','c-family-name','c-version-name','max-by-define','cmd-max-name','cmd-cnt-name','definitions','attribute-sets','operations','mcast-groups'}
DEF = {'name','header','type','doc','value','value-start','entries','render-max','enum-name','name-prefix'}
SET = {'name','name-prefix','enum-name','doc','subset-of','attr-cnt-name','attr-max-name','attributes'}
ATTR = {'name','type','doc','value','type-value','byte-order','multi-attr','nested-attributes','enum','enum-as-flags','checks','sub-type','display-hint','name-prefix'}
TYPES = {'unused','pad','flag','binary','uint','sint','u8','u16','u32','u64','s32','s64','string','nest','array-nest','nest-type-value'}
CHECKS = {'flags-mask','min','max','min-len','max-len','exact-len'}
OPS = {'enum-model','name-prefix','enum-name','async-prefix','async-enum','list'}
OP = {'name','doc','value','attribute-set','flags','dont-validate','config-cond','do','dump','notify','event','mcgrp'}
SUB = {'request','reply','pre','post'}
def sub(a, b, where):
    extra = set(a) - b
    assert not extra, (where, extra)
sub(spec, TOP, 'top'); assert {'name','doc','attribute-sets','operations'} <= set(spec)
assert spec['protocol'] in ('genetlink', 'genetlink-c')
for d in spec['definitions']:
    sub(d, DEF, d['name']); assert d['type'] in ('const','enum','flags')
names = {d['name'] for d in spec['definitions']}
sets = {s['name']: s for s in spec['attribute-sets']}
for s in spec['attribute-sets']:
    sub(s, SET, s['name'])
    for a in s['attributes']:
        sub(a, ATTR, a['name']); assert a['type'] in TYPES
        if 'checks' in a:
            sub(a['checks'], CHECKS, a['name'])
            for k, v in a['checks'].items():
                assert isinstance(v, int) or v in names or re.match(r'^[su](8|16|32|64)-(min|max)$', v), (a, k)
        if 'enum' in a: assert a['enum'] in names
        if 'nested-attributes' in a: assert a['nested-attributes'] in sets
sub(spec['operations'], OPS, 'operations')
groups = {g['name'] for g in spec['mcast-groups']['list']}
for o in spec['operations']['list']:
    sub(o, OP, o['name']); assert 'doc' in o
    attrs = {a['name'] for a in sets[o['attribute-set']]['attributes']}
    for k in ('do', 'dump'):
        if k in o:
            sub(o[k], SUB, o['name'])
            for r in ('request', 'reply'):
                if r in o[k]:
                    assert set(o[k][r]['attributes']) <= attrs, (o['name'], r)
    if 'event' in o: assert set(o['event']['attributes']) <= attrs
    if 'mcgrp' in o: assert o['mcgrp'] in groups
# Numbering against the uapi header.
def enum_vals(name):
    body = re.search(r'enum %s \{(.*?)\};' % name, h, re.S).group(1)
    out = []
    for l in body.split('\n'):
        n = l.split('/*')[0].strip().rstrip(',')
        if n and '=' not in n and not n.startswith('__'):
            out.append(n)
    return out
for set_name, enum in (('boundary', 'boundary_attr'), ('config', 'boundary_cfg_attr'), ('event', 'boundary_event_attr')):
    s = sets[set_name]
    want = [(s['name-prefix'] + a['name']).upper().replace('-', '_') for a in s['attributes']]
    assert want == enum_vals(enum)[1:], (set_name, want, enum_vals(enum))
ops = [(spec['operations']['name-prefix'] + o['name']).upper().replace('-', '_') for o in spec['operations']['list']]
assert ops == enum_vals('boundary_cmd')[1:], (ops, enum_vals('boundary_cmd'))
ev = next(d for d in spec['definitions'] if d['name'] == 'event-type')
assert [(ev['name-prefix'] + e).upper().replace('-', '_') for e in ev['entries']] == enum_vals('boundary_event_type')
md = next(d for d in spec['definitions'] if d['name'] == 'mode')
assert [(md['name-prefix'] + e['name']).upper().replace('-', '_') for e in md['entries']] == enum_vals('boundary_mode')
print("ok")
