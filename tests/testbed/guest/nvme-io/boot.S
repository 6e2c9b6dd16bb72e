/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Multiboot entry for the nested NVMe I/O guest. The loader leaves us in
 * 32-bit protected mode, paging off, interrupts off, with flat segments but a
 * GDT we must not rely on: load our own, set a stack, clear .bss, call main.
 */
	.section .multiboot, "ax"
	.align 4
	.long 0x1badb002		/* magic */
	.long 0				/* flags: ELF layout, nothing requested */
	.long -0x1badb002		/* checksum */

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $stack_top, %esp
	/* clear .bss */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	call main
2:	hlt
	jmp 2b

	.section .rodata
	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: code, base 0, limit 4 GiB */
	.quad 0x00cf92000000ffff	/* 0x10: data, base 0, limit 4 GiB */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .bss
	.align 16
	.space 65536
stack_top:
