// Loopback UDP ceiling with segmentation offload, no protocol: a forked receiver counts SIZE-byte datagrams that the
// sender sends SEGS per sendmsg (UDP_SEGMENT; 1 = one each) for SECONDS, receiving with UDP_GRO when GRO is 1 (a
// coalesced run per recvmsg, the segment size in a control message). Build and run:
//   gcc -O2 -D_GNU_SOURCE -o /tmp/udp_gso bench/c/udp_gso.c && /tmp/udp_gso 1472 3 40 1
#include <arpa/inet.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  int size=argc>1?atoi(argv[1]):1472; double secs=argc>2?atof(argv[2]):3; int segs=argc>3?atoi(argv[3]):40; int gro=argc>4?atoi(argv[4]):1;
  int r=socket(AF_INET,SOCK_DGRAM,0); int big=8<<20; setsockopt(r,SOL_SOCKET,SO_RCVBUF,&big,sizeof big);
  if(gro){int one=1; if(setsockopt(r,SOL_UDP,UDP_GRO,&one,sizeof one)) perror("gro");}
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(0x7f000001),.sin_port=0};
  bind(r,(void*)&a,sizeof a); socklen_t l=sizeof a; getsockname(r,(void*)&a,&l);
  int p[2]; pipe(p);
  pid_t c=fork();
  if(c==0){ static char buf[65536]; long n=0, calls=0; struct timeval tv={0,200000}; setsockopt(r,SOL_SOCKET,SO_RCVTIMEO,&tv,sizeof tv);
    char ctl[256]; double start=0,last=0;
    while(1){ struct iovec io={buf,sizeof buf}; struct msghdr m={0}; m.msg_iov=&io; m.msg_iovlen=1; m.msg_control=ctl; m.msg_controllen=sizeof ctl;
      ssize_t k=recvmsg(r,&m,0); if(k<0) break; int seg=k;
      for(struct cmsghdr*cm=CMSG_FIRSTHDR(&m);cm;cm=CMSG_NXTHDR(&m,cm)) if(cm->cmsg_level==SOL_UDP&&cm->cmsg_type==UDP_GRO) seg=*(int*)CMSG_DATA(cm);
      if(!n) start=now(); n+= (k+seg-1)/seg; calls++; last=now(); }
    double rate = n>1 ? n/(last-start) : 0; write(p[1],&rate,sizeof rate); write(p[1],&n,sizeof n); write(p[1],&calls,sizeof calls); return 0; }
  int s=socket(AF_INET,SOCK_DGRAM,0); connect(s,(void*)&a,sizeof a);
  char*buf=calloc(segs,size); long sent=0; double end=now()+secs;
  char ctl[CMSG_SPACE(sizeof(unsigned short))];
  while(now()<end){ for(int i=0;i<64;i++){
    struct iovec io={buf,(size_t)size*segs}; struct msghdr m={0}; m.msg_iov=&io; m.msg_iovlen=1;
    if(segs>1){ m.msg_control=ctl; m.msg_controllen=sizeof ctl; struct cmsghdr*cm=CMSG_FIRSTHDR(&m); cm->cmsg_level=SOL_UDP; cm->cmsg_type=UDP_SEGMENT; cm->cmsg_len=CMSG_LEN(sizeof(unsigned short)); *(unsigned short*)CMSG_DATA(cm)=size; }
    if(sendmsg(s,&m,0)>0) sent+=segs; } }
  double rate; long got, calls; read(p[0],&rate,sizeof rate); read(p[0],&got,sizeof got); read(p[0],&calls,sizeof calls); waitpid(c,0,0);
  printf("{\"size\":%d,\"segs\":%d,\"gro\":%d,\"sent\":%ld,\"received\":%ld,\"recv_calls\":%ld,\"received_per_s\":%.0f}\n",size,segs,gro,sent,got,calls,rate);
}
