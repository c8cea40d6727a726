// Facts of the kernel's machine layout that every assembly file shares:
// where the kernel region is, its segment selectors, the paging and control
// bits the entry sets. All of it below 2^47: Embedded Swift keeps flags in
// pointer bits 56-63.

#define KERNEL_VIRTUAL_BASE 0x00007FFF80000000
#define DIRECT_MAP_BASE     0x00007F8000000000
#define PAGE_PRESENT_WRITABLE 0x3
#define PAGE_HUGE_2M          0x83      // present, writable, 2 MiB page
#define EFER_MSR   0xC0000080
#define EFER_LME   (1 << 8)
#define EFER_NXE   (1 << 11)
#define CR0_PE_WP_PG 0x80010001
#define CR4_PAE      0x20

#define KERNEL_CODE 0x08
#define KERNEL_DATA 0x10
#define TSS_SELECTOR 0x28

#define COM1      0x3F8                 // GuestPort.serial
#define EXIT_PORT 0xF4                  // GuestPort.exit
#define EXIT_MISSING_CPU_FEATURE 6      // KernelExit.missingCPUFeature
#define REPORT_PORT 0x1000              // GuestPort.report
#define CHANNEL_SIGNATURE 0x484D564B    // channelSignature
#define SERIAL_LINK 0x2F8               // GuestPort.serialLink
#define LINK_FRAME_EXIT 0x58            // LinkFrame.exit
