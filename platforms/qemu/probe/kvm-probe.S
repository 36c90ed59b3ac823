/* multiboot v1 flat binary loaded at 0x100000 (a.out kludge) */
.code32
.set BASE, 0x100000
.globl _start
_start:
hdr:
  .long 0x1BADB002
  .long 0x00010000
  .long -(0x1BADB002 + 0x00010000)
  .long BASE            /* header_addr */
  .long BASE            /* load_addr */
  .long 0               /* load_end_addr: whole file */
  .long 0               /* bss_end_addr */
  .long BASE + (entry - hdr)  /* entry */
entry:
  cli
  mov $0x3f8, %dx
  mov $'A', %al
  out %al, %dx
  /* page tables at 0x200000 (PML4), 0x201000 (PDPT), 0x202000 (PD) identity map 1GiB with 2MiB pages */
  mov $0x200000, %edi
  xor %eax, %eax
  mov $(3*4096/4), %ecx
  rep stosl
  movl $0x201003, 0x200000
  movl $0x202003, 0x201000
  mov $0x202000, %edi
  mov $0x83, %eax
  mov $512, %ecx
1: mov %eax, (%edi)
  add $0x200000, %eax
  add $8, %edi
  loop 1b
  mov $0x200000, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x20, %eax
  mov %eax, %cr4
  mov $0xC0000080, %ecx
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax
  mov %eax, %cr0
  lgdt BASE + (gdtr - hdr)
  ljmp $0x08, $(BASE + (long64 - hdr))
.code64
long64:
  mov $0x3f8, %dx
  mov $'O', %al
  out %al, %dx
  mov $'K', %al
  out %al, %dx
  mov $'\n', %al
  out %al, %dx
  mov $0xf4, %dx
  mov $0x10, %eax
  out %eax, %dx
2: hlt
  jmp 2b
.align 8
gdt:
  .quad 0
  .quad 0x00209A0000000000
  .quad 0x0000920000000000
gdtr:
  .word gdtr - gdt - 1
  .long BASE + (gdt - hdr)
