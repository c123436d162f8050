# drawn by bench/plot; run from /work/main/doc/perf: gnuplot gnuplot/overhead.gp
set terminal pngcairo size 1100,640 font 'DejaVu Sans,11' linewidth 1
set output "overhead.png"
set termoption noenhanced
set title "Trivial tasks f(k) = 2k: the cost of a call, 2 workers\nIntel(R) Xeon(R) Processor, 2 CPUs, 2026-11-23; median of 5 rounds, band: fastest to slowest round"
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
set xlabel "tasks per call"
set xrange [869.565:115000]
set xtics ("1000" 1000 0, "10^4" 10000 0, "10^5" 100000 0)
unset mxtics
plot "gnuplot/overhead.dat" index 0 using 1:3:4 with filledcurves lc rgb '#0050c8', \
     "gnuplot/overhead.dat" index 0 using 1:2 with linespoints lc rgb '#0050c8' dt 1 lw 3 pt 7 ps 1.1 title "jobpool", \
     "gnuplot/overhead.dat" index 1 using 1:3:4 with filledcurves lc rgb '#d62020', \
     "gnuplot/overhead.dat" index 1 using 1:2 with linespoints lc rgb '#d62020' dt 1 lw 2.5 pt 11 ps 1.1 title "joblib", \
     "gnuplot/overhead.dat" index 2 using 1:3:4 with filledcurves lc rgb '#ff9900', \
     "gnuplot/overhead.dat" index 2 using 1:2 with linespoints lc rgb '#ff9900' dt 1 lw 2.5 pt 13 ps 1.1 title "NumPy", \
     "gnuplot/overhead.dat" index 3 using 1:3:4 with filledcurves lc rgb '#8e3fbf', \
     "gnuplot/overhead.dat" index 3 using 1:2 with linespoints lc rgb '#8e3fbf' dt 1 lw 2.5 pt 15 ps 1.1 title "Pool"
