#!/usr/bin/env bash
echo "kotlin: not yet"
