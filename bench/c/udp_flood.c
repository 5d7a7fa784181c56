// Loopback UDP ceiling of this machine, no protocol: a forked receiver counts SIZE-byte datagrams sent as fast as
// possible for SECONDS (BATCH > 1: sendmmsg). Build and run: gcc -O2 -D_GNU_SOURCE -o /tmp/udp_flood bench/c/udp_flood.c && /tmp/udp_flood 1472 3 1
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  int size=argc>1?atoi(argv[1]):1472; double secs=argc>2?atof(argv[2]):3; int batch=argc>3?atoi(argv[3]):1;
  int r=socket(AF_INET,SOCK_DGRAM,0); int big=8<<20; setsockopt(r,SOL_SOCKET,SO_RCVBUF,&big,sizeof big);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(0x7f000001),.sin_port=0};
  bind(r,(void*)&a,sizeof a); socklen_t l=sizeof a; getsockname(r,(void*)&a,&l);
  int p[2]; pipe(p);
  pid_t c=fork();
  if(c==0){ char buf[65536]; long n=0; struct timeval tv={0,200000}; setsockopt(r,SOL_SOCKET,SO_RCVTIMEO,&tv,sizeof tv);
    double start=0,last=0; while(1){ ssize_t k=recv(r,buf,sizeof buf,0); if(k<0) break; if(!n) start=now(); n++; last=now(); }
    double rate = n>1 ? n/(last-start) : 0; write(p[1],&rate,sizeof rate); write(p[1],&n,sizeof n); return 0; }
  int s=socket(AF_INET,SOCK_DGRAM,0); connect(s,(void*)&a,sizeof a);
  char*buf=calloc(1,size); long sent=0; double end=now()+secs;
  struct mmsghdr *m=calloc(batch,sizeof *m); struct iovec *io=calloc(batch,sizeof *io);
  for(int i=0;i<batch;i++){io[i].iov_base=buf;io[i].iov_len=size;m[i].msg_hdr.msg_iov=&io[i];m[i].msg_hdr.msg_iovlen=1;}
  while(now()<end){ for(int i=0;i<64;i++){ if(batch==1){ if(send(s,buf,size,0)>0) sent++; } else { int k=sendmmsg(s,m,batch,0); if(k>0) sent+=k; } } }
  double rate; long got; read(p[0],&rate,sizeof rate); read(p[0],&got,sizeof got); waitpid(c,0,0);
  printf("{\"size\":%d,\"batch\":%d,\"sent\":%ld,\"received\":%ld,\"received_per_s\":%.0f}\n",size,batch,sent,got,rate);
}
