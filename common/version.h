/*
 * version.h - the version every kiln program prints for --version (and
 * the .deb carries: scripts/mkdeb.sh reads it from here).
 */
#ifndef KILN_VERSION_H
#define KILN_VERSION_H

#define KILN_VERSION "0.1.0"

#endif
