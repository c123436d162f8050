# drawn by bench/plot; run from /work/main/doc/perf: gnuplot gnuplot/vectorize.gp
set terminal pngcairo size 1100,640 font 'DejaVu Sans,11' linewidth 1
set output "vectorize.png"
set termoption noenhanced
set title "Seed 4: y = x + x^2 + x^3 on an N x N float32 matrix, 2 workers\nIntel(R) Xeon(R) Processor, 2 CPUs, 2026-11-23; median of 5 rounds, band: fastest to slowest round"
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
set xlabel "N"
set xrange [86.9565:1150]
set xtics ("100" 100 0, "200" 200 0, "300" 300 0, "400" 400 0, "500" 500 0, "600" 600 0, "" 700 1, "800" 800 0, "" 900 1, "1000" 1000 0)
unset mxtics
plot "gnuplot/vectorize.dat" index 0 using 1:3:4 with filledcurves lc rgb '#0050c8', \
     "gnuplot/vectorize.dat" index 0 using 1:2 with linespoints lc rgb '#0050c8' dt 1 lw 3 pt 7 ps 1.1 title "jobpool", \
     "gnuplot/vectorize.dat" index 1 using 1:3:4 with filledcurves lc rgb '#00a0a0', \
     "gnuplot/vectorize.dat" index 1 using 1:2 with linespoints lc rgb '#00a0a0' dt 1 lw 2.5 pt 9 ps 1.1 title "jobpool threads", \
     "gnuplot/vectorize.dat" index 2 using 1:3:4 with filledcurves lc rgb '#d62020', \
     "gnuplot/vectorize.dat" index 2 using 1:2 with linespoints lc rgb '#d62020' dt 1 lw 2.5 pt 11 ps 1.1 title "joblib", \
     "gnuplot/vectorize.dat" index 3 using 1:3:4 with filledcurves lc rgb '#ff7f7f', \
     "gnuplot/vectorize.dat" index 3 using 1:2 with linespoints lc rgb '#ff7f7f' dt 1 lw 2 pt 10 ps 1.1 title "joblib threads", \
     "gnuplot/vectorize.dat" index 4 using 1:3:4 with filledcurves lc rgb '#ff9900', \
     "gnuplot/vectorize.dat" index 4 using 1:2 with linespoints lc rgb '#ff9900' dt 1 lw 2.5 pt 13 ps 1.1 title "NumPy", \
     "gnuplot/vectorize.dat" index 5 using 1:3:4 with filledcurves lc rgb '#8e3fbf', \
     "gnuplot/vectorize.dat" index 5 using 1:2 with linespoints lc rgb '#8e3fbf' dt 1 lw 2.5 pt 15 ps 1.1 title "Pool", \
     "gnuplot/vectorize.dat" index 6 using 1:3:4 with filledcurves lc rgb '#7f5f3f', \
     "gnuplot/vectorize.dat" index 6 using 1:2 with linespoints lc rgb '#7f5f3f' dt 1 lw 2 pt 4 ps 1.1 title "Python loop", \
     "gnuplot/vectorize.dat" index 7 using 1:3:4 with filledcurves lc rgb '#606060', \
     "gnuplot/vectorize.dat" index 7 using 1:2 with linespoints lc rgb '#606060' dt 2 lw 1.5 pt 6 ps 1.1 title "C, one core"
