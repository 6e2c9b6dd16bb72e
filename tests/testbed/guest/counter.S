/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nested test guest: a multiboot kernel that counts forever. The counter
 * at physical 0x200000 proves the guest runs (read it with QMP
 * "human-monitor-command xp /1wx 0x200000"); each round also writes the count
 * into 64 pages at 0x300000 so live migration always has dirty memory to
 * send, but little enough to converge over the testbed's slow link.
 */
	.text
	.code32
	.globl _start
	.align 4
multiboot_header:
	.long 0x1badb002		/* magic */
	.long 0				/* flags: ELF layout, nothing requested */
	.long -0x1badb002		/* checksum */

_start:
	cli
	movl $0x200000, %edi
	movl $0, (%edi)
count:
	incl (%edi)
	movl (%edi), %eax
	movl $0x300000, %esi
dirty:
	movl %eax, (%esi)
	addl $4096, %esi
	cmpl $0x340000, %esi
	jb dirty
	jmp count
