# drawn by bench/plot; run from /work/main/doc/perf: gnuplot gnuplot/memmap.gp
set terminal pngcairo size 1100,640 font 'DejaVu Sans,11' linewidth 1
set output "memmap.png"
set termoption noenhanced
set title "A float64 array shared with 2 workers that sum its rows\nIntel(R) Xeon(R) Processor, 2 CPUs, 2026-11-23; median of 5 rounds, band: fastest to slowest round"
set logscale y
set format y '%.0s%cs'
set ylabel 'time per call (s)'
set grid xtics ytics mxtics mytics lc rgb '#d8d8d8' lw 1, lc rgb '#efefef' lw 1
set key outside right top vertical Left reverse noautotitle spacing 1.2 width 1
set border 3 lc rgb '#404040'
set tics nomirror
set style fill transparent solid 0.15 noborder
set bars small
set logscale x
set xlabel "array size (MiB)"
set xrange [55.6522:1177.6]
set xtics ("64" 64 0, "256" 256 0, "1024" 1024 0)
unset mxtics
plot "gnuplot/memmap.dat" index 0 using 1:3:4 with filledcurves lc rgb '#0050c8', \
     "gnuplot/memmap.dat" index 0 using 1:2 with linespoints lc rgb '#0050c8' dt 1 lw 3 pt 7 ps 1.1 title "jobpool", \
     "gnuplot/memmap.dat" index 1 using 1:3:4 with filledcurves lc rgb '#3f8fff', \
     "gnuplot/memmap.dat" index 1 using 1:2 with linespoints lc rgb '#3f8fff' dt 1 lw 2 pt 5 ps 1.1 title "jobpool reuse", \
     "gnuplot/memmap.dat" index 2 using 1:3:4 with filledcurves lc rgb '#00a0a0', \
     "gnuplot/memmap.dat" index 2 using 1:2 with linespoints lc rgb '#00a0a0' dt 1 lw 2 pt 9 ps 1.1 title "jobpool zero-copy", \
     "gnuplot/memmap.dat" index 3 using 1:3:4 with filledcurves lc rgb '#d62020', \
     "gnuplot/memmap.dat" index 3 using 1:2 with linespoints lc rgb '#d62020' dt 1 lw 2.5 pt 11 ps 1.1 title "joblib", \
     "gnuplot/memmap.dat" index 4 using 1:3:4 with filledcurves lc rgb '#ff7f7f', \
     "gnuplot/memmap.dat" index 4 using 1:2 with linespoints lc rgb '#ff7f7f' dt 1 lw 2 pt 10 ps 1.1 title "joblib reuse", \
     "gnuplot/memmap.dat" index 5 using 1:3:4 with filledcurves lc rgb '#ff9900', \
     "gnuplot/memmap.dat" index 5 using 1:2 with linespoints lc rgb '#ff9900' dt 1 lw 2.5 pt 13 ps 1.1 title "NumPy", \
     "gnuplot/memmap.dat" index 6 using 1:3:4 with filledcurves lc rgb '#8e3fbf', \
     "gnuplot/memmap.dat" index 6 using 1:2 with linespoints lc rgb '#8e3fbf' dt 1 lw 2.5 pt 15 ps 1.1 title "Pool", \
     "gnuplot/memmap.dat" index 7 using 1:3:4 with filledcurves lc rgb '#606060', \
     "gnuplot/memmap.dat" index 7 using 1:2 with linespoints lc rgb '#606060' dt 2 lw 1.5 pt 6 ps 1.1 title "write() floor", \
     "gnuplot/memmap.dat" index 8 using 1:3:4 with filledcurves lc rgb '#909090', \
     "gnuplot/memmap.dat" index 8 using 1:2 with linespoints lc rgb '#909090' dt 3 lw 1.5 pt 8 ps 1.1 title "memcpy floor"
