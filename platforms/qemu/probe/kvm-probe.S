/*
 * The KVM probe guest: a multiboot v1 flat binary loaded at 0x100000 (a.out
 * kludge), booted with the real run's -machine and -cpu. It does what a Linux
 * kernel does in its first milliseconds, where a broken nested KVM hangs or
 * faults: enter long mode with NX, turn on SSE and XSAVE, program the PAT
 * MSR (and SPEC_CTRL when the CPU has it) and touch 32 MiB of memory page by
 * page. Any fault triple-faults, which -no-reboot turns into exit status 0.
 * Serial: "A" on entry, "OK" at the end, "X" when a value read back is wrong.
 * isa-debug-exit: 0x10 (status 33) for success, 0x11 (status 35) for "X".
 */
.code32
.set BASE, 0x100000
.set PML4, 0x200000
.set SCRATCH, 0x300000
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
  /* page tables at PML4, PML4+0x1000 (PDPT), PML4+0x2000 (PD): identity map 1 GiB with 2 MiB pages */
  mov $PML4, %edi
  xor %eax, %eax
  mov $(3*4096/4), %ecx
  rep stosl
  movl $(PML4 + 0x1003), PML4
  movl $(PML4 + 0x2003), PML4 + 0x1000
  mov $(PML4 + 0x2000), %edi
  mov $0x83, %eax
  mov $512, %ecx
1: mov %eax, (%edi)
  add $0x200000, %eax
  add $8, %edi
  loop 1b
  mov $PML4, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x20, %eax                /* PAE */
  mov %eax, %cr4
  mov $0xC0000080, %ecx         /* EFER: LME and NXE, as Linux sets them */
  rdmsr
  or $0x900, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax          /* PG, PE */
  mov %eax, %cr0
  lgdt BASE + (gdtr - hdr)
  ljmp $0x08, $(BASE + (long64 - hdr))

.code64
long64:
  mov $0x10, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  /* SSE: CR0.EM off, CR0.MP on; CR4.OSFXSR and OSXMMEXCPT */
  mov %cr0, %rax
  and $~0x4, %rax
  or $0x2, %rax
  mov %rax, %cr0
  mov %cr4, %rax
  or $0x600, %rax
  mov %rax, %cr4
  pxor %xmm0, %xmm0
  movaps %xmm0, SCRATCH
  /* XSAVE when CPUID.1:ECX.XSAVE[26]: CR4.OSXSAVE, then XCR0 = x87 | SSE */
  mov $1, %eax
  cpuid
  bt $26, %ecx
  jnc 2f
  mov %cr4, %rax
  or $0x40000, %rax
  mov %rax, %cr4
  xor %ecx, %ecx
  mov $3, %eax
  xor %edx, %edx
  xsetbv
2:
  /* PAT as Linux programs it (WB WC UC- UC WB WP UC- WT), read back */
  mov $0x277, %ecx
  mov $0x00070106, %eax
  mov $0x04070506, %edx
  wrmsr
  rdmsr
  cmp $0x00070106, %eax
  jne fail
  cmp $0x04070506, %edx
  jne fail
  /* SPEC_CTRL = 0 when CPUID.7:EDX[26] says IBRS/IBPB exist, as mitigations do */
  xor %eax, %eax
  cpuid
  cmp $7, %eax
  jb 3f
  mov $7, %eax
  xor %ecx, %ecx
  cpuid
  bt $26, %edx
  jnc 3f
  mov $0x48, %ecx
  xor %eax, %eax
  xor %edx, %edx
  wrmsr
3:
  rdtsc
  /* touch 32 MiB from 8 MiB on, one write per 4 KiB page, then read the first back */
  mov $0x800000, %rdi
  mov $8192, %ecx
4: mov %rdi, (%rdi)
  add $4096, %rdi
  loop 4b
  cmpq $0x800000, 0x800000
  jne fail

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
5: hlt
  jmp 5b
fail:
  mov $0x3f8, %dx
  mov $'X', %al
  out %al, %dx
  mov $0xf4, %dx
  mov $0x11, %eax
  out %eax, %dx
  jmp 5b

.align 8
gdt:
  .quad 0
  .quad 0x00209A0000000000
  .quad 0x0000920000000000
gdtr:
  .word gdtr - gdt - 1
  .long BASE + (gdt - hdr)
